// How the S3 and SQS adapters read AWS SDK errors, and the sticky "unhealthy" state they report after an outage.
import { isBackendUnavailable } from "../../errors.ts";
import type { Clock } from "../../ports/clock.ts";

interface SdkError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

const status = (err: unknown) => (err as SdkError | undefined)?.$metadata?.httpStatusCode;

/** The object (or bucket key) does not exist. */
export function isNotFound(err: unknown): boolean {
  const e = err as SdkError | undefined;
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.Code === "NoSuchKey" || status(err) === 404;
}

/** A conditional write (If-Match / If-None-Match) lost: someone else wrote the object first. */
export function isPreconditionFailed(err: unknown): boolean {
  const e = err as SdkError | undefined;
  // S3 answers 409 ConditionalRequestConflict when two conditional writes to one key race.
  return e?.name === "PreconditionFailed" || status(err) === 412 || e?.name === "ConditionalRequestConflict";
}

/** SQS: the receipt handle no longer names an in-flight message (deleted, or received again by someone else). */
export function isStaleReceipt(err: unknown): boolean {
  const e = err as (SdkError & { message?: string }) | undefined;
  if (/^(ReceiptHandleIsInvalid|MessageNotInflight|AWS\.SimpleQueueService\.MessageNotInflight)$/.test(e?.name ?? "")) {
    return true;
  }
  // Real SQS: "Value … for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available …"
  return e?.name === "InvalidParameterValue" && /ReceiptHandle|not available/i.test(e.message ?? "");
}

/** SQS: the queue is gone (deleted by someone), so a cached queue URL must be looked up (or created) again. */
export function isMissingQueue(err: unknown): boolean {
  const name = (err as SdkError | undefined)?.name ?? "";
  return name === "QueueDoesNotExist" || name === "AWS.SimpleQueueService.NonExistentQueue";
}

/**
 * Remembers a backend outage (network error, throttling, 5xx) for a short time, so `unhealthyReason()` can answer
 * synchronously and intake refuses with a 4xx at once instead of timing out on every message.
 */
export function stickyHealth(label: string, clock: Clock, holdMs = 15_000) {
  let until = 0;
  let reason = "";
  return {
    /** Looks at a failure; backend outages make the adapter unhealthy for `holdMs`. Returns the error. */
    note<E>(err: E): E {
      if (isBackendUnavailable(err)) {
        until = clock.now() + holdMs;
        const e = err as { name?: string; message?: string };
        reason = `${label}: ${e.name ?? "Error"} ${e.message ?? ""}`.trim();
      }
      return err;
    },
    reason(): string | undefined {
      return clock.now() < until ? reason : undefined;
    },
  };
}
