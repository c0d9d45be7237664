// What the sqs queue does with a received SQS message: hand its delivery out (claimed), hide it, or drop it.
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { MessageRecord } from "../../domain/envelope.ts";
import type { Clock } from "../../ports/clock.ts";
import { isStaleReceipt } from "../aws/errors.ts";
import { isFinal } from "./sqs-records.ts";
import { ConditionFailed, type DeliveryRecord, type StatusStore } from "./sqs-status-store.ts";
import {
  type CarrierBody,
  MAX_VISIBILITY_S,
  newCarrierToken,
  notBeforeOf,
  parseCarrier,
  sentAtOf,
  type ZoneQueues,
} from "./sqs-zone-queues.ts";

/** A carrier not committed yet (enqueue or deferral in progress) is looked at again this soon. */
const UNCOMMITTED_RETRY_MS = 2_000;
/** A carrier still uncommitted after this long belongs to an enqueue or deferral that failed: it is dropped. */
export const ORPHAN_AFTER_MS = 10 * 60_000;
/** A carrier this old is replaced by a fresh one, so SQS retention (14 days) never drops a long deferral. */
const RECHAIN_AFTER_MS = 7 * 24 * 3_600_000;

/** One receipt of one SQS message. */
export interface Receipt {
  url: string;
  handle: string;
  /** Our clock just before the ReceiveMessage call: SQS's visibility started after it. */
  receivedAt: number;
}

export interface Claimed {
  record: DeliveryRecord;
  generation: number;
  carrier: CarrierBody;
  message: MessageRecord;
}

export class Carriers {
  constructor(
    private readonly sqs: SQSClient,
    private readonly store: StatusStore,
    private readonly zones: ZoneQueues,
    private readonly clock: Clock,
  ) {}

  /** Makes a received message invisible for `ms` (capped by SQS's 12 h from its receipt); 0 shows it at once. */
  async hide(r: Receipt, ms: number): Promise<void> {
    const elapsed = Math.ceil((this.clock.now() - r.receivedAt) / 1000);
    const seconds = ms <= 0 ? 0 : Math.max(1, Math.min(Math.ceil(ms / 1000), MAX_VISIBILITY_S - elapsed - 5));
    await this.sqs
      .send(
        new ChangeMessageVisibilityCommand({ QueueUrl: r.url, ReceiptHandle: r.handle, VisibilityTimeout: seconds }),
      )
      .catch((err) => {
        if (!isStaleReceipt(err)) throw err;
      });
  }

  async drop(r: Receipt): Promise<void> {
    await this.sqs.send(new DeleteMessageCommand({ QueueUrl: r.url, ReceiptHandle: r.handle }));
  }

  /**
   * Replaces the carrier of a delivery while writing its next record: send the new carrier, commit it in the
   * record (conditional on the etag we read), then delete the old one. A crash in between leaves either the old
   * carrier live (the new one is an orphan, dropped later) or the new one live (the old one is stale, dropped when
   * next received); never neither, never both.
   */
  async replace(r: Receipt, carrier: CarrierBody, etag: string | undefined, next: DeliveryRecord): Promise<void> {
    const token = newCarrierToken();
    await this.zones.send(
      [{ body: { ...carrier, carrier: token, prev: next.carrier }, notBefore: next.nextAttemptAt }],
      this.clock.now(),
    );
    await this.store.write(this.store.keys.delivery(next.id), { ...next, carrier: token }, { ifMatch: etag });
    await this.drop(r).catch(() => {}); // a leftover old carrier is recognised as stale later
  }

  /**
   * Decides what a received message is: a due delivery to hand out (claimed in its record with a new lease
   * generation), or something to hide (not due, not committed yet) or drop (final, cancelled, superseded,
   * orphaned). `now` is the lease request's time, against which "due" is judged.
   */
  async admit(r: Receipt, m: Message, owner: string, now: number): Promise<Claimed | undefined> {
    const carrier = parseCarrier(m);
    // Not ours (or corrupt): left alone; after maxReceiveCount receipts SQS moves it to the dead-letter queue.
    if (!carrier) return undefined;
    const { store } = this;
    const age = this.clock.now() - sentAtOf(m, this.clock.now());
    const notBefore = notBeforeOf(m);
    if (notBefore > now && age < RECHAIN_AFTER_MS) {
      await this.hide(r, notBefore - now); // a long deferral: DelaySeconds covered its first 15 minutes only
      return undefined;
    }
    const { id, messageId } = carrier.delivery;
    const [stored, committed, cancelled] = await Promise.all([
      store.read<DeliveryRecord>(store.keys.delivery(id)),
      store.messageObject(messageId),
      store.exists(store.keys.cancelled(messageId)),
    ]);
    if (!stored || !committed) {
      // enqueue writes the records, sends, then commits the message object: wait for the commit, or give up
      await (age > ORPHAN_AFTER_MS ? this.drop(r) : this.hide(r, UNCOMMITTED_RETRY_MS));
      return undefined;
    }
    const rec = stored.value;
    if (cancelled || isFinal(rec.state)) {
      // Carriers are deleted only after the done/finished markers are written, so one still here may mean a crash
      // came in between: the markers are (re)written before it goes.
      if (isFinal(rec.state)) await store.write(store.keys.done(messageId, id), { state: rec.state });
      await store.finishIfDone(messageId, this.clock.now());
      await this.drop(r);
      return undefined;
    }
    if (rec.carrier !== carrier.carrier) {
      // A successor whose deferral has not committed yet is waited for; anything else is a stale duplicate.
      const pending = carrier.prev === rec.carrier && age < ORPHAN_AFTER_MS;
      await (pending ? this.hide(r, UNCOMMITTED_RETRY_MS) : this.drop(r));
      return undefined;
    }
    if (rec.nextAttemptAt > now) {
      if (age >= RECHAIN_AFTER_MS) await this.replace(r, carrier, stored.etag, rec);
      else await this.hide(r, rec.nextAttemptAt - now);
      return undefined;
    }
    // Claim: a new lease generation, written only if nobody changed the record since we read it. With SQS
    // visibility as the lease nobody else should have; the condition also catches SQS's rare duplicate receipts
    // where the store honours it.
    const generation = (rec.lease?.generation ?? 0) + 1;
    const record: DeliveryRecord = { ...rec, lease: { owner, generation } };
    try {
      await store.write(store.keys.delivery(id), record, { ifMatch: stored.etag });
    } catch (err) {
      if (err instanceof ConditionFailed) return undefined;
      throw err;
    }
    return { record, generation, carrier, message: committed.message };
  }
}
