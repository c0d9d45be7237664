// Handoff of fresh deliveries from the local queue to the sender in the same process (the embedded mode).
//
// Leasing new work back out of SQLite costs a write transaction and a join per message, right after the enqueue
// wrote it. Since a local queue has exactly one process, a zone's sender can instead be handed its fresh
// deliveries in memory: the enqueue writes them already leased to that sender, and its next `lease` call takes them
// from here. Storage stays the truth — a handed delivery is an ordinary lease in the table, so a crash, an
// expiry or `release` makes it due again exactly as if it had been leased the usual way.
import type { LeasedDelivery } from "../../domain/envelope.ts";

export interface HandoffOffer {
  owner: string;
  leaseMs: number;
  /** How many handed deliveries may wait at once; past it, new work is queued for a normal lease. */
  max: number;
}

export class LocalHandoff {
  private readonly offers = new Map<string, HandoffOffer>();
  private readonly waiting = new Map<string, LeasedDelivery[]>();
  /** Handed in a committed enqueue that is not durable yet, by zone: they count against `max` already. */
  private readonly reserved = new Map<string, number>();

  offer(zone: string, offer: HandoffOffer) {
    this.offers.set(zone, offer);
  }

  /** Ends a zone's offer; returns what was handed but not taken (still leased in storage: release it). */
  withdraw(zone: string): LeasedDelivery[] {
    this.offers.delete(zone);
    const left = this.waiting.get(zone) ?? [];
    this.waiting.delete(zone);
    return left;
  }

  /** Ends every offer of an owner; returns what it had not taken. */
  withdrawOwner(owner: string): LeasedDelivery[] {
    const left: LeasedDelivery[] = [];
    for (const [zone, offer] of this.offers) if (offer.owner === owner) left.push(...this.withdraw(zone));
    return left;
  }

  /** Takes back everything handed and not taken (the offers stay): before an operator changes deliveries. */
  recall(): LeasedDelivery[] {
    const left = [...this.waiting.values()].flat();
    this.waiting.clear();
    return left;
  }

  /** Whom a new, due delivery of the zone goes to, if anyone; `also` are handed in the same enqueue. */
  taker(zone: string, also: readonly LeasedDelivery[]): HandoffOffer | undefined {
    const offer = this.offers.get(zone);
    if (!offer) return undefined;
    let count = (this.waiting.get(zone)?.length ?? 0) + (this.reserved.get(zone) ?? 0);
    for (const d of also) if (d.zone === zone) count++;
    return count < offer.max ? offer : undefined;
  }

  /** Counts deliveries handed in a committed enqueue until it is durable (`add`) or has failed (`unreserve`). */
  reserve(handed: readonly LeasedDelivery[]) {
    for (const d of handed) this.reserved.set(d.zone, (this.reserved.get(d.zone) ?? 0) + 1);
  }

  unreserve(handed: readonly LeasedDelivery[]) {
    for (const d of handed) this.reserved.set(d.zone, (this.reserved.get(d.zone) ?? 1) - 1);
  }

  /** Makes durable, handed deliveries available to their owner. */
  add(handed: LeasedDelivery[]) {
    this.unreserve(handed);
    for (const d of handed) {
      if (this.offers.get(d.zone)?.owner !== d.leaseOwner) continue; // withdrawn meanwhile: storage has it
      const list = this.waiting.get(d.zone);
      if (list) list.push(d);
      else this.waiting.set(d.zone, [d]);
    }
  }

  /**
   * Up to `limit` handed deliveries of the zone for `owner`, oldest first. One whose lease has run out is skipped:
   * it is due in storage again and leased from there.
   */
  take(zone: string, owner: string, limit: number, now: number): LeasedDelivery[] {
    const list = this.waiting.get(zone);
    if (!list?.length || this.offers.get(zone)?.owner !== owner || limit <= 0) return [];
    const taken: LeasedDelivery[] = [];
    let i = 0;
    while (i < list.length && taken.length < limit) {
      const d = list[i++]!;
      if (d.leaseExpiresAt > now) taken.push(d);
    }
    list.splice(0, i);
    return taken;
  }

  /** Forgets the handed deliveries of a message (cancelled). */
  dropMessage(messageId: string) {
    for (const [zone, list] of this.waiting) {
      const kept = list.filter((d) => d.messageId !== messageId);
      if (kept.length !== list.length) this.waiting.set(zone, kept);
    }
  }

  hasWaiting(zone: string): boolean {
    return (this.waiting.get(zone)?.length ?? 0) > 0;
  }
}
