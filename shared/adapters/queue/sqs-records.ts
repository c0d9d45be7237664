// Pure functions over the sqs queue's delivery records: what a completion writes, what status shows.
import { type Delivery, type DeliveryState, FINAL_STATES } from "../../domain/envelope.ts";
import type { Completion } from "../../ports/queue.ts";
import type { CancelMarker, DeliveryRecord } from "./sqs-status-store.ts";

/** Attempts kept per delivery; the retry schedule needs ~20, the rest is noise for the admin UI. */
const HISTORY_LIMIT = 100;

export const isFinal = (state: DeliveryState) => FINAL_STATES.includes(state);

export function toDelivery(rec: DeliveryRecord): Delivery {
  const { id, messageId, zone, recipient, domain, state, attempts, nextAttemptAt, lastResponse, updatedAt } = rec;
  return {
    id,
    messageId,
    zone,
    recipient,
    domain,
    state,
    attempts,
    nextAttemptAt,
    ...(lastResponse === undefined ? {} : { lastResponse }),
    updatedAt,
  };
}

/** The record after one attempt: counted, with its response and history; a deferral is due again later. */
export function completedRecord(rec: DeliveryRecord, completion: Completion, now: number): DeliveryRecord {
  const deferred = completion.outcome === "deferred";
  return {
    ...rec,
    state: completion.outcome,
    attempts: rec.attempts + 1,
    nextAttemptAt: deferred ? completion.nextAttemptAt : now,
    lastResponse: completion.attempt.response,
    updatedAt: now,
    history: [...rec.history, completion.attempt].slice(-HISTORY_LIMIT),
  };
}

/** A delivery as status shows it: cancel writes a marker, not the record, so it is applied here. */
export function effectiveDelivery(rec: DeliveryRecord, cancel: CancelMarker | undefined) {
  const delivery = toDelivery(rec);
  const shown =
    cancel && !isFinal(rec.state)
      ? { ...delivery, state: "cancelled" as const, lastResponse: "cancelled", updatedAt: cancel.at }
      : delivery;
  return { ...shown, history: rec.history };
}
