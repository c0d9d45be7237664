// Port: the durable queue of deliveries, leased by senders and completed exactly once.
import type { Attempt, LeasedDelivery, MessageRecord, MessageStatus, NewDelivery } from "../domain/envelope.ts";

export interface IdempotencyClaim {
  /** API key id (or "anonymous") so two clients never share keys. */
  scope: string;
  key: string;
  expiresAt: number;
}

export type EnqueueResult = { created: true } | { created: false; existingMessageId: string };

export type Completion =
  | { outcome: "delivered"; attempt: Attempt }
  | { outcome: "deferred"; attempt: Attempt; nextAttemptAt: number }
  | { outcome: "bounced"; attempt: Attempt };

export interface LeaseRequest {
  owner: string;
  limit: number;
  leaseMs: number;
  now: number;
}

/**
 * The queue.
 * - `enqueue` stores a message and all its deliveries atomically and durably, or nothing. With an idempotency
 *   claim that another unexpired message already holds, nothing is stored and that message's id is returned.
 * - `lease` hands out due deliveries of one zone (next attempt ≤ now, not final, not leased or lease expired),
 *   oldest due first, to one owner until now + leaseMs. Work whose lease expires comes back (crashed host).
 * - `complete` records the attempt and the new state only if the owner still holds the lease; it returns false
 *   otherwise, so a duplicate or late completion is harmless (idempotent).
 * - `release` gives back every lease of an owner (graceful shutdown).
 * - `cancel` moves every not-final delivery of a message to "cancelled" and returns how many.
 * - `handOff` (optional; a queue whose only sender lives in its process) enqueues new due deliveries of a zone
 *   already leased to `owner` (for leaseMs, up to `max` waiting) and gives them to its next `lease` calls from
 *   memory. They are ordinary leases in storage: expiry, `release` and a crash make them due again. The returned
 *   function withdraws the offer and releases what was not taken.
 */
export interface Queue {
  enqueue(message: MessageRecord, deliveries: NewDelivery[], idempotency?: IdempotencyClaim): Promise<EnqueueResult>;
  lease(zone: string, request: LeaseRequest): Promise<LeasedDelivery[]>;
  renew(deliveryIds: string[], owner: string, until: number): Promise<void>;
  complete(deliveryId: string, owner: string, completion: Completion): Promise<boolean>;
  release(owner: string): Promise<number>;
  handOff?(zone: string, offer: { owner: string; leaseMs: number; max: number }): () => void;
  cancel(messageId: string, now: number): Promise<number>;
  getMessage(messageId: string): Promise<MessageStatus | undefined>;
  /** Earliest next attempt among not-final, unleased deliveries of a zone (for the sender's sleep). */
  nextDueAt(zone: string): Promise<number | undefined>;
  /** Messages whose deliveries are all final and whose body has not been released yet. */
  finishedMessages(limit: number): Promise<Pick<MessageRecord, "id" | "bodyId">[]>;
  /** Mark a finished message's body as removed (after BodyStore.delete). */
  markBodyRemoved(messageId: string): Promise<void>;
  /** Is any message (finished or not) still holding this body? */
  hasBody(bodyId: string): Promise<boolean>;
  unhealthyReason(): string | undefined;
  close(): Promise<void>;
}
