// Queue on SQS (one queue per zone; a lease is the message's visibility) with per-message status on S3.
import type { S3Client } from "@aws-sdk/client-s3";
import { ChangeMessageVisibilityCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { LeasedDelivery } from "../../domain/envelope.ts";
import { type Clock, systemClock } from "../../ports/clock.ts";
import type { Queue } from "../../ports/queue.ts";
import { isStaleReceipt, stickyHealth } from "../aws/errors.ts";
import { Carriers, ORPHAN_AFTER_MS, type Receipt } from "./sqs-carriers.ts";
import { enqueueMessage } from "./sqs-enqueue.ts";
import { completedRecord, effectiveDelivery, isFinal, toDelivery } from "./sqs-records.ts";
import {
  type CancelMarker,
  ConditionFailed,
  type DeliveryRecord,
  decodeKeyPart,
  StatusStore,
} from "./sqs-status-store.ts";
import { type CarrierBody, MAX_BATCH, MAX_DELAY_S, MAX_VISIBILITY_S, ZoneQueues } from "./sqs-zone-queues.ts";

export interface SqsQueueOptions {
  sqs: SQSClient;
  s3: S3Client;
  statusBucket: string;
  /** Queues are named `<queuePrefix>-<zone>` and `<queuePrefix>-<zone>-dlq`. */
  queuePrefix: string;
  /** Key prefix of the status objects in `statusBucket` (default "status/"). */
  statusPrefix?: string;
  clock?: Clock;
  /** Send S3 If-Match / If-None-Match on status writes (default true; servers that ignore them are tolerated). */
  conditionalWrites?: boolean;
  /**
   * Long-poll wait of a lease's first receive (later receives of one lease never wait). Default 0: a lease answers
   * at once, as the port promises; on real SQS 1–2 s makes fewer empty receives, but a wait as long as a lease
   * could hand a just-expired lease to the next caller inside one call.
   */
  waitTimeSeconds?: number;
  /** SQS's DelaySeconds limit (900); lower only in tests, to exercise not-before chaining quickly. */
  maxDelaySeconds?: number;
}

/** Visibility set before a completion's writes, so the lease cannot run out while they are in flight. */
const FENCE_S = 30;

interface HeldLease extends Receipt {
  owner: string;
  generation: number;
  expiresAt: number;
  carrier: CarrierBody;
}

export function createSqsQueue(options: SqsQueueOptions): Queue {
  const { sqs } = options;
  const clock = options.clock ?? systemClock;
  const store = new StatusStore(
    options.s3,
    options.statusBucket,
    options.statusPrefix ?? "status/",
    options.conditionalWrites ?? true,
  );
  const keys = store.keys;
  const zones = new ZoneQueues(sqs, options.queuePrefix, options.maxDelaySeconds ?? MAX_DELAY_S);
  const carriers = new Carriers(sqs, store, zones, clock);
  const health = stickyHealth(`sqs queues ${options.queuePrefix}-*`, clock);
  const waitTimeSeconds = options.waitTimeSeconds ?? 0;
  /** Leases this process holds: SQS hands out receipt handles, not owners, so the owner is kept here. */
  const leases = new Map<string, HeldLease>();

  /** Runs work, remembering a backend outage so `unhealthyReason()` reports it for a while. */
  const noted = <T>(work: Promise<T>) =>
    work.catch((err) => {
      throw health.note(err);
    });

  /** The rest of a completion, once the lease is known to be ours: write the record, retire or replace the carrier. */
  async function finishCompletion(
    held: HeldLease,
    id: string,
    owner: string,
    completion: Parameters<Queue["complete"]>[2],
  ): Promise<boolean> {
    const messageId = held.carrier.delivery.messageId;
    const [stored, cancelled] = await Promise.all([
      store.read<DeliveryRecord>(keys.delivery(id)),
      store.exists(keys.cancelled(messageId)),
    ]);
    const rec = stored?.value;
    // Someone leased it after us (a higher generation), it moved on, or it is final already: not ours to complete.
    const ours =
      rec?.lease?.generation === held.generation &&
      rec.lease.owner === owner &&
      rec.carrier === held.carrier.carrier &&
      !isFinal(rec.state);
    if (!stored || !rec || !ours) return false;
    if (cancelled) {
      await carriers.drop(held);
      return false;
    }
    const next = completedRecord(rec, completion, clock.now());
    try {
      if (completion.outcome === "deferred") {
        await carriers.replace(held, held.carrier, stored.etag, next);
        return true;
      }
      await store.write(keys.delivery(id), next, { ifMatch: stored.etag });
    } catch (err) {
      if (err instanceof ConditionFailed) return false;
      throw err;
    }
    // Recorded: the completion stands. If what follows fails, the carrier comes back after the fence and its next
    // receipt writes the markers and drops it (sqs-carriers.ts), so the failure is only remembered for health.
    try {
      await store.write(keys.done(messageId, id), { state: next.state });
      await carriers.drop(held);
      await store.finishIfDone(messageId, clock.now());
    } catch (err) {
      health.note(err);
    }
    return true;
  }

  const queue: Queue = {
    async enqueue(message, deliveries, claim) {
      // Queues first: creating them has no effect on this message if anything later fails.
      await noted(Promise.all([...new Set(deliveries.map((d) => d.zone))].map((zone) => zones.urlOf(zone))));
      return noted(enqueueMessage(store, zones, clock.now(), message, deliveries, claim));
    },

    async lease(zone, { owner, limit, leaseMs, now }) {
      const url = await noted(zones.urlOf(zone));
      const visibility = Math.min(MAX_VISIBILITY_S, Math.max(1, Math.ceil(leaseMs / 1000)));
      const out: LeasedDelivery[] = [];
      // Bounded: a queue full of not-yet-due carriers must not keep one lease call receiving for ever.
      for (let round = 0; out.length < limit && round < Math.ceil(limit / MAX_BATCH) + 3; round++) {
        // Our lease starts before SQS's visibility does, so ours always runs out first.
        const receivedAt = clock.now();
        const got = await noted(
          sqs
            .send(
              new ReceiveMessageCommand({
                QueueUrl: url,
                MaxNumberOfMessages: Math.min(MAX_BATCH, limit - out.length),
                VisibilityTimeout: visibility,
                WaitTimeSeconds: round === 0 ? waitTimeSeconds : 0,
                MessageAttributeNames: ["All"],
                MessageSystemAttributeNames: ["SentTimestamp", "ApproximateReceiveCount"],
              }),
            )
            .catch((err) => {
              zones.forgetIfGone(zone, err);
              throw err;
            }),
        );
        const received = got.Messages ?? [];
        if (received.length === 0) break;
        const claims = await noted(
          Promise.all(
            received.map(async (m) => {
              const receipt: Receipt = { url, handle: m.ReceiptHandle!, receivedAt };
              return { receipt, claimed: await carriers.admit(receipt, m, owner, now) };
            }),
          ),
        );
        for (const { receipt, claimed } of claims) {
          if (!claimed) continue;
          const { record, generation, carrier, message } = claimed;
          const expiresAt = receivedAt + leaseMs;
          leases.set(record.id, { ...receipt, owner, generation, expiresAt, carrier });
          out.push({ ...toDelivery(record), message, leaseOwner: owner, leaseExpiresAt: expiresAt });
        }
      }
      return out;
    },

    async renew(deliveryIds, owner, until) {
      const now = clock.now();
      const renewOne = async (id: string) => {
        const held = leases.get(id);
        if (!held || held.owner !== owner) return;
        if (now >= held.expiresAt) {
          leases.delete(id); // too late: SQS may already have handed it to someone else
          return;
        }
        const elapsed = Math.ceil((now - held.receivedAt) / 1000);
        const seconds = Math.max(1, Math.min(Math.ceil((until - now) / 1000), MAX_VISIBILITY_S - elapsed - 5));
        try {
          await sqs.send(
            new ChangeMessageVisibilityCommand({
              QueueUrl: held.url,
              ReceiptHandle: held.handle,
              VisibilityTimeout: seconds,
            }),
          );
          held.expiresAt = now + seconds * 1000;
        } catch (err) {
          if (!isStaleReceipt(err)) throw err;
          leases.delete(id);
        }
      };
      await noted(Promise.all(deliveryIds.map(renewOne)));
    },

    async complete(deliveryId, owner, completion) {
      const held = leases.get(deliveryId);
      if (!held || held.owner !== owner) return false;
      leases.delete(deliveryId); // whatever happens next, this lease is spent
      // Past (or close to) its expiry the lease may already be someone else's: a late completion is refused without
      // touching SQS, where a stale receipt handle can still delete the message (SQS and moto allow that).
      const started = clock.now();
      if (started >= held.expiresAt - Math.min(1_000, (held.expiresAt - held.receivedAt) / 4)) return false;
      return noted(
        (async () => {
          // Fence: the message stays invisible while we write, even if the lease was about to run out.
          await carriers.hide(held, FENCE_S * 1000);
          return finishCompletion(held, deliveryId, owner, completion);
        })(),
      );
    },

    async release(owner) {
      const mine = [...leases].filter(([, held]) => held.owner === owner);
      for (const [id] of mine) leases.delete(id);
      await noted(Promise.all(mine.map(([, held]) => carriers.hide(held, 0))));
      return mine.length;
    },

    async cancel(messageId, now) {
      const cancelIt = async () => {
        const object = await store.messageObject(messageId);
        if (!object || (await store.exists(keys.cancelled(messageId)))) return 0;
        const records = await Promise.all(
          object.deliveries.map((d) => store.read<DeliveryRecord>(keys.delivery(d.id))),
        );
        const open = records.filter((r) => r && !isFinal(r.value.state)).length;
        if (open === 0) return 0;
        const marker: CancelMarker = { at: now, cancelled: open };
        try {
          await store.write(keys.cancelled(messageId), marker, { ifNoneMatch: "*" });
        } catch (err) {
          if (err instanceof ConditionFailed) return 0;
          throw err;
        }
        // Leased carriers are refused at completion, the others dropped at their next receipt.
        await store.write(keys.finished(messageId, object.message.bodyId), { at: now });
        return open;
      };
      return noted(cancelIt());
    },

    async getMessage(messageId) {
      const read = async () => {
        const object = await store.messageObject(messageId);
        if (!object) return undefined;
        const [records, cancel] = await Promise.all([
          Promise.all(object.deliveries.map((d) => store.read<DeliveryRecord>(keys.delivery(d.id)))),
          store.read<CancelMarker>(keys.cancelled(messageId)),
        ]);
        const deliveries = records.flatMap((r) => (r ? [effectiveDelivery(r.value, cancel?.value)] : []));
        if (deliveries.length === 0 && object.deliveries.length > 0) return undefined;
        return { message: object.message, deliveries };
      };
      return noted(read());
    },

    // SQS cannot tell when its next delayed or hidden message becomes visible: the sender polls instead.
    nextDueAt: async () => undefined,

    async finishedMessages(limit) {
      const found = await noted(store.list(keys.finishedDir(), limit));
      return found.flatMap((rest) => {
        const [id, bodyId] = rest.split("/");
        return id && bodyId ? [{ id: decodeKeyPart(id), bodyId: decodeKeyPart(bodyId) }] : [];
      });
    },

    async markBodyRemoved(messageId) {
      const object = await noted(store.messageObject(messageId));
      if (!object) return;
      const { bodyId } = object.message;
      await noted(
        Promise.all([store.remove(keys.finished(messageId, bodyId)), store.remove(keys.body(bodyId, messageId))]),
      );
    },

    async hasBody(bodyId) {
      // A reference counts when its message committed, or while its enqueue may still be in progress: one left by
      // an enqueue that crashed before its commit must not keep the body for ever.
      const holds = async () => {
        for (const ref of await store.list(keys.bodyDir(bodyId))) {
          const messageId = decodeKeyPart(ref);
          if (await store.messageObject(messageId)) return true;
          const written = await store.read<{ at: number }>(keys.body(bodyId, messageId));
          if (written && clock.now() - written.value.at < ORPHAN_AFTER_MS) return true;
        }
        return false;
      };
      return noted(holds());
    },

    unhealthyReason: () => health.reason(),

    async close() {
      // The SDK clients belong to the caller (they may be shared); leases held here simply run out.
      leases.clear();
    },
  };
  // A queue deleted under us (or an emulator restarted empty) is created again on the next lease.
  const leaseOnce = queue.lease.bind(queue);
  queue.lease = (zone, request) =>
    leaseOnce(zone, request).catch((err) => {
      zones.forgetIfGone(zone, err);
      throw err;
    });
  return queue;
}
