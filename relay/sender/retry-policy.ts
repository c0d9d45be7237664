// When to try a deferred delivery again: the configured schedule (last step repeats) until maxQueueTime.
export interface RetryDecision {
  retry: boolean;
  /** Next attempt time when retrying. */
  at: number;
}

/**
 * `attempts` counts the attempt that just failed (1 after the first). With ZoneMTA's default schedule the
 * retries come after 5, 7, 8, 25, 75, 120 minutes, then every 240 minutes until the message is too old.
 */
export function nextRetry(args: {
  attempts: number;
  now: number;
  receivedAt: number;
  schedule: readonly number[];
  maxQueueTime: number;
}): RetryDecision {
  const step = args.schedule[Math.min(args.attempts, args.schedule.length) - 1] ?? args.schedule.at(-1)!;
  const at = args.now + step;
  return { retry: at < args.receivedAt + args.maxQueueTime, at };
}
