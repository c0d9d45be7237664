// Lifecycle rules of the body bucket: expiry is the last line of garbage collection (the relay's GC removes what
// it can sooner), so each prefix expires only after nothing can still need it.
import type { Config } from "../../shared/config/schema.ts";
import type { StackSettings } from "./settings.ts";

export interface LifecycleRule {
  id: string;
  prefix: string;
  /** Days after creation; undefined with `abortIncompleteUploadsDays` only. */
  expireDays?: number;
  abortIncompleteUploadsDays?: number;
}

const DAY_MS = 86_400_000;
/** The sqs queue adapter's status prefix (its default; the relay config does not change it). */
export const STATUS_PREFIX = "status/";
/** Status objects that are history and may expire; `finished/` and `bodies/` are the GC's index and never do. */
const STATUS_HISTORY = ["messages/", "deliveries/", "done/", "cancelled/", "idempotency/"];
/** A body outlives its last delivery attempt by this much: bounces (DSNs quote it) and operators' looks. */
const BODY_MARGIN_DAYS = 7;

export function bucketLifecycle(config: Readonly<Config>, stack: StackSettings): LifecycleRule[] {
  const queueDays = Math.ceil(config.queue.maxQueueTime / DAY_MS);
  const bodyDays = queueDays + BODY_MARGIN_DAYS;
  if (stack.statusRetentionDays <= bodyDays) {
    throw new Error(
      `statusRetentionDays (${stack.statusRetentionDays}) must exceed queue.maxQueueTime + ${BODY_MARGIN_DAYS} days ` +
        `(${bodyDays}): a message's status must outlive it`,
    );
  }
  const prefixes = [config.aws.prefix, config.uploads.prefix, STATUS_PREFIX];
  for (const [i, a] of prefixes.entries()) {
    for (const b of prefixes.slice(i + 1)) {
      if (a.startsWith(b) || b.startsWith(a)) throw new Error(`bucket prefixes overlap: "${a}" and "${b}"`);
    }
  }
  return [
    { id: "abort-incomplete-uploads", prefix: "", abortIncompleteUploadsDays: 1 },
    { id: "bodies", prefix: config.aws.prefix, expireDays: bodyDays },
    {
      id: "uploads",
      prefix: config.uploads.prefix,
      expireDays: Math.max(1, Math.ceil(config.uploads.expireAfter / DAY_MS)),
    },
    ...STATUS_HISTORY.map((sub) => ({
      id: `status-${sub.slice(0, -1)}`,
      prefix: `${STATUS_PREFIX}${sub}`,
      expireDays: stack.statusRetentionDays,
    })),
  ];
}
