// Enqueue on the sqs queue: all or nothing across S3 (status) and SQS (carriers), with a single commit point.
import { type MessageRecord, type NewDelivery, queuedDelivery } from "../../domain/envelope.ts";
import type { EnqueueResult, IdempotencyClaim } from "../../ports/queue.ts";
import { claimIdempotency, releaseIdempotency } from "./sqs-idempotency.ts";
import type { DeliveryRecord, MessageObject, StatusStore } from "./sqs-status-store.ts";
import { type CarrierBody, carrierMessage, newCarrierToken, type ZoneQueues } from "./sqs-zone-queues.ts";

/**
 * Writes the delivery records and the body reference, sends the carriers, then writes the message object: the
 * commit point (a carrier received before it is hidden briefly; after a failure, dropped as an orphan). If anything
 * fails, what was written and the idempotency claim are removed and the error is rethrown, so nothing half-queued
 * is ever delivered. The zones' queues must exist already (nothing to undo if creating them fails).
 */
export async function enqueueMessage(
  store: StatusStore,
  zones: ZoneQueues,
  now: number,
  message: MessageRecord,
  deliveries: NewDelivery[],
  claim: IdempotencyClaim | undefined,
): Promise<EnqueueResult> {
  const { keys } = store;
  if (claim) {
    const existingMessageId = await claimIdempotency(store, claim, message.id, now);
    if (existingMessageId) return { created: false, existingMessageId };
  }
  const records: DeliveryRecord[] = deliveries.map((d) => ({
    ...queuedDelivery(message.id, d, now),
    history: [],
    carrier: newCarrierToken(),
  }));
  const object: MessageObject = {
    message,
    deliveries: deliveries.map(({ id, zone, recipient, domain }) => ({ id, zone, recipient, domain })),
  };
  try {
    await Promise.all([
      ...records.map((r) => store.write(keys.delivery(r.id), r)),
      store.write(keys.body(message.bodyId, message.id), { at: now }),
    ]);
    await zones.send(
      records.map((r) => ({ body: carrierOf(r, message), notBefore: r.nextAttemptAt })),
      now,
    );
    await store.write(keys.message(message.id), object);
    store.remember(object);
    if (records.length === 0) await store.write(keys.finished(message.id, message.bodyId), { at: now });
    return { created: true };
  } catch (err) {
    const removals = [
      keys.message(message.id),
      keys.body(message.bodyId, message.id),
      ...records.map((r) => keys.delivery(r.id)),
    ].map((key) => store.remove(key));
    if (claim) removals.push(releaseIdempotency(store, claim, message.id));
    await Promise.allSettled(removals);
    throw err;
  }
}

function carrierOf(record: DeliveryRecord, message: MessageRecord): CarrierBody {
  const { id, messageId, zone, recipient, domain } = record;
  const delivery = { id, messageId, zone, recipient, domain };
  return { v: 1, carrier: record.carrier, delivery, message: carrierMessage(message) };
}
