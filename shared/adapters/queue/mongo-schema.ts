// Documents, indexes and record mapping of the MongoDB queue: one document per recipient delivery, one per message, one per
// delivery version (the fences that make every change of a delivery a single-winner insert).
import type { IndexDescription } from "mongodb";
import type { Attempt, Delivery, DeliveryState, MessageRecord } from "../../domain/envelope.ts";

/** One recipient delivery, in `<collection>` (default "zone-queue", ZoneMTA's). Times are epoch milliseconds. */
export interface DeliveryDoc {
  _id: string;
  messageId: string;
  /** Position in the message's recipient list (getMessage keeps enqueue order). */
  seq: number;
  zone: string;
  domain: string;
  recipient: string;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number;
  /**
   * When this delivery may next be leased: the next attempt, or the lease expiry while leased (what ZoneMTA calls
   * `queued`). Absent while staged and once final, so "leasable" is just `dueAt <= now`, and the earliest `dueAt`
   * of a zone is what the sender sleeps until.
   */
  dueAt?: number;
  leaseOwner?: string;
  /** 0 when not leased. */
  leaseExpiresAt: number;
  lastResponse?: string;
  updatedAt: number;
  history: Omit<Attempt, "deliveryId">[];
  /** Version: bumped by every change, each change first claims `<id>:<gen+1>` in the fences collection. */
  gen: number;
  /** Set (to the staging time) while the enqueue that wrote it has not committed: invisible to senders. */
  staged?: number;
  /** instanceId of the instance that deferred it: other instances leave it alone for a grace period. */
  pinnedTo?: string;
  /** Final, and its message's body not released yet: what garbage collection looks at. */
  collect?: true;
  /** On hold by an operator (open deliveries only): it has no `dueAt` then, so it is never leased. */
  held?: true;
  /**
   * Arrival order (from `monotonicKeys` at enqueue; ties between hosts broken by `_id`): what operator listings page
   * by, as it never changes. Deliveries enqueued before it existed have none and list first.
   */
  arrival?: number;
}

/**
 * One accepted message, in `<collection>-messages`: the whole MessageRecord (`id` as `_id`, so a field added to the
 * record is stored without a change here) plus our bookkeeping. Its insert is the commit point of an enqueue.
 */
export type MessageDoc = Omit<MessageRecord, "id"> & {
  _id: string;
  deliveryCount: number;
  bodyRemoved: boolean;
  /** JSON of [scope, key] when the message was enqueued with an idempotency claim. */
  idempotencyKey?: string;
  /** Claims of one key are numbered; (key, gen) is unique, so two enqueues racing for a key cannot both win. */
  idempotencyGen?: number;
  idempotencyExpiresAt?: number;
};

/** `<collection>-fences`: "version gen of this delivery has been claimed" (`_id` is `<deliveryId>:<gen>`). */
export interface FenceDoc {
  _id: string;
  messageId: string;
  op: string;
  at: number;
}

/** `<collection>-audit`: the operators' audit trail, append-only. `seq` (from `monotonicKeys`) is the append order. */
export interface AuditDoc {
  _id: string;
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: Record<string, unknown>;
  affected: number;
  detail?: string;
}

export const mongoQueueCollections = (collection: string) => ({
  deliveries: collection,
  messages: `${collection}-messages`,
  fences: `${collection}-fences`,
  audit: `${collection}-audit`,
});

/**
 * Increasing numbers for order keys (arrival, audit `seq`): the time in ms × 1000, plus one past the last key when
 * several fall in one ms, so keys of one process never repeat or go back. Across hosts they follow the clocks.
 */
export function monotonicKeys(clock: { now(): number }): () => number {
  let last = 0;
  return () => {
    last = Math.max(clock.now() * 1000, last + 1);
    return last;
  };
}

/**
 * Every index the queue needs, created (idempotently) before the factory resolves. No partial or TTL indexes:
 * FerretDB v1 has neither (docs/backends.md), so what they would do is done by the data shape (absent fields) and
 * by our own sweeps. `sparse` is honoured by MongoDB and ignored by FerretDB, which never indexes a missing field
 * as a duplicate anyway.
 */
export const MONGO_QUEUE_INDEXES: Record<keyof ReturnType<typeof mongoQueueCollections>, IndexDescription[]> = {
  deliveries: [
    // lease and nextDueAt: due deliveries of one zone, oldest first (staged and final ones have no dueAt)
    { name: "zone_due", key: { zone: 1, dueAt: 1 } },
    // nextDueAt of an instance with an instanceId: the earliest work pinned to other instances
    { name: "zone_pinned_due", key: { zone: 1, pinnedTo: 1, dueAt: 1 } },
    // getMessage, cancel, "does this message still have open deliveries?"
    { name: "message_state", key: { messageId: 1, state: 1 } },
    { name: "lease_owner", key: { leaseOwner: 1 }, sparse: true },
    { name: "collect", key: { collect: 1 }, sparse: true },
    { name: "staged", key: { staged: 1 }, sparse: true },
    // queue operations: counts by zone and state (open ones), listings in arrival order
    { name: "state_zone", key: { state: 1, zone: 1, held: 1 } },
    { name: "arrival", key: { arrival: 1, _id: 1 } },
  ],
  messages: [
    { name: "body", key: { bodyId: 1 } },
    { name: "idempotency", key: { idempotencyKey: 1, idempotencyGen: 1 }, unique: true, sparse: true },
  ],
  fences: [{ name: "message", key: { messageId: 1 } }],
  audit: [{ name: "seq", key: { seq: 1, _id: 1 } }],
};

/** Drops undefined fields: the driver would store them as null. */
export const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

export function toMessage(m: MessageDoc): MessageRecord {
  const { _id, deliveryCount, bodyRemoved, idempotencyKey, idempotencyGen, idempotencyExpiresAt, ...record } = m;
  return { ...record, id: _id };
}

export function toMessageDoc(message: MessageRecord, deliveryCount: number): MessageDoc {
  const { id, ...record } = message;
  return defined({ ...record, _id: id, deliveryCount, bodyRemoved: false });
}

export const toDelivery = (d: DeliveryDoc): Delivery =>
  defined({
    id: d._id,
    messageId: d.messageId,
    zone: d.zone,
    recipient: d.recipient,
    domain: d.domain,
    state: d.state,
    attempts: d.attempts,
    nextAttemptAt: d.nextAttemptAt,
    lastResponse: d.lastResponse,
    updatedAt: d.updatedAt,
  });
