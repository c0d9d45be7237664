// Port: operators' control of the queue (Postfix's mailq / postqueue / postsuper) and the audit trail of it.
// Separate from the Queue port so a backend can offer delivery without (yet) offering operations.
import type { Delivery, DeliveryState, MessageRecord } from "../domain/envelope.ts";

/** What an operator sees: a delivery's state, with `held` for an open delivery that is on hold. */
export type OpsState = DeliveryState | "held";
export const OPS_STATES: readonly OpsState[] = ["queued", "deferred", "held", "delivered", "bounced", "cancelled"];
/** States a delivery can still leave: the default of listings and the only ones mutations touch. */
export const OPEN_OPS_STATES: readonly OpsState[] = ["queued", "deferred", "held"];

/**
 * Which deliveries. Every given criterion must match (AND); an empty filter matches every delivery in `state`
 * (default: the open states). Mutations only ever change open deliveries, whatever `state` says.
 */
export interface DeliveryFilter {
  /** Delivery ids. */
  ids?: readonly string[];
  messageId?: string;
  zone?: string;
  /** Recipient domain, exact (lower-case). */
  domain?: string;
  state?: readonly OpsState[];
  /** Received before this time (epoch ms): "older than an hour" is `receivedBefore: now - 3_600_000`. */
  receivedBefore?: number;
  receivedAfter?: number;
  /** Case-insensitive substring of the last reply (e.g. "greylist", "5.7.1"). */
  reply?: string;
}

/** A delivery as listed for operators: its message's envelope summary, whether it is held or leased right now. */
export interface OpsDelivery extends Delivery {
  /** `held` for an open delivery on hold, else the delivery's own state. */
  opsState: OpsState;
  held: boolean;
  /** Leased by a sender now (being attempted or about to be). */
  leased: boolean;
  from: string;
  subject?: string;
  receivedAt: number;
  size: number;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

export interface ZoneStateCount {
  zone: string;
  /** Open states only (the queue's depth): queued (waiting or due), deferred, held. */
  state: "queued" | "deferred" | "held";
  count: number;
}

/** An open delivery that a `remove` finished, with its message, so the caller can send a DSN. */
export type RemovedDelivery = Delivery & { message: MessageRecord };

export interface AuditEntry {
  id: string;
  at: number;
  /** Who: "key:<id>", "admin:<user>", "anonymous". */
  actor: string;
  /** What: e.g. "queue.retry", "queue.delete", "suspension.lift". */
  action: string;
  /** On what: the filter or the ids, as given. */
  target: Record<string, unknown>;
  /** How many deliveries (or things) changed. */
  affected: number;
  detail?: string;
}

/**
 * Queue operations.
 * - `list` pages through matching deliveries in arrival order; the cursor is opaque and stays valid while
 *   deliveries change state.
 * - `counts` is cheap enough to run on every metrics scrape: open deliveries by zone and state.
 * - `retry` makes matching queued/deferred deliveries that are not held due now (next attempt = now).
 * - `hold` puts matching open deliveries on hold: a held delivery is never leased until `release`d; a delivery
 *   being attempted while it is held finishes that attempt (its outcome is recorded) and is held afterwards if
 *   still open. `release` makes held deliveries leasable again, due at once.
 * - `remove` finishes matching open deliveries: "drop" → cancelled, silently; "bounce" → bounced, with an attempt
 *   recording `reason`, and returns them (with their messages) for DSNs. A late completion by a sender that still
 *   held the lease is refused, as for `Queue.cancel`.
 * - `flush` makes every open, not held delivery of a recipient domain (optionally in one zone) due now.
 * - Mutations return how many deliveries changed; they are idempotent (doing it twice changes nothing more).
 * - `appendAudit` stores an entry durably and never changes it; `listAudit` pages newest (last appended) first.
 */
export interface QueueOps {
  list(filter: DeliveryFilter, page: { limit: number; cursor?: string }): Promise<Page<OpsDelivery>>;
  counts(): Promise<ZoneStateCount[]>;
  retry(filter: DeliveryFilter, now: number): Promise<number>;
  hold(filter: DeliveryFilter, now: number): Promise<number>;
  release(filter: DeliveryFilter, now: number): Promise<number>;
  remove(
    filter: DeliveryFilter,
    options: { mode: "bounce" | "drop"; reason: string; now: number },
  ): Promise<{ count: number; bounced: RemovedDelivery[] }>;
  flush(domain: string, now: number, zone?: string): Promise<number>;
  appendAudit(entry: AuditEntry): Promise<void>;
  listAudit(page: { limit: number; cursor?: string }): Promise<Page<AuditEntry>>;
}
