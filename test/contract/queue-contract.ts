// The Queue contract: every adapter runs these same tests unchanged. A behaviour not tested here is not promised.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MessageRecord, NewDelivery } from "../../shared/domain/envelope.ts";
import type { Queue } from "../../shared/ports/queue.ts";

export interface QueueFixture {
  queue: Queue;
  cleanup(): Promise<void>;
}

let counter = 0;
const uid = (prefix: string) =>
  `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;

function message(overrides: Partial<MessageRecord> = {}): MessageRecord {
  const id = uid("m");
  return {
    id,
    bodyId: `b${id}`,
    from: "sender@example.test",
    size: 123,
    receivedAt: 1_000,
    messageIdHeader: `<${id}@example.test>`,
    subject: "Hello",
    source: { interface: "smtp", name: "feeder", remoteAddress: "127.0.0.1" },
    ...overrides,
  };
}

function deliveries(zone: string, recipients: string[], nextAttemptAt = 1_000): NewDelivery[] {
  return recipients.map((recipient) => ({
    id: uid("d"),
    zone,
    recipient,
    domain: recipient.split("@")[1]!,
    nextAttemptAt,
  }));
}

const attempt = (deliveryId: string, outcome: "delivered" | "deferred" | "bounced", response: string) => ({
  deliveryId,
  at: 2_000,
  durationMs: 15,
  outcome,
  response,
  localAddress: "127.0.0.2",
  mx: "mx.example.test",
  tls: true,
});

export function describeQueueContract(name: string, make: () => Promise<QueueFixture>) {
  describe(`Queue contract: ${name}`, () => {
    let fx: QueueFixture;
    let q: Queue;
    let zone: string;
    beforeEach(async () => {
      fx = await make();
      q = fx.queue;
      zone = uid("zone");
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it("enqueues a message with its deliveries and shows them as queued", async () => {
      const m = message();
      const ds = deliveries(zone, ["a@one.test", "b@two.test"]);
      expect(await q.enqueue(m, ds)).toEqual({ created: true });
      const status = await q.getMessage(m.id);
      expect(status?.message).toMatchObject({ id: m.id, from: m.from, bodyId: m.bodyId, subject: "Hello" });
      expect(status?.deliveries.map((d) => [d.recipient, d.state, d.zone])).toEqual([
        ["a@one.test", "queued", zone],
        ["b@two.test", "queued", zone],
      ]);
      expect(await q.getMessage("missing")).toBeUndefined();
    });

    it("leases only due deliveries of the requested zone, once per lease", async () => {
      const m = message();
      await q.enqueue(m, [...deliveries(zone, ["a@one.test"], 1_000), ...deliveries(zone, ["later@one.test"], 50_000)]);
      await q.enqueue(message(), deliveries(`${zone}-other`, ["x@one.test"]));
      const first = await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 60_000, now: 5_000 });
      expect(first.map((d) => d.recipient)).toEqual(["a@one.test"]);
      expect(first[0]!.message).toMatchObject({ id: m.id, bodyId: m.bodyId });
      expect(await q.lease(zone, { owner: "h2", limit: 10, leaseMs: 60_000, now: 5_000 })).toEqual([]);
    });

    it("gives back work whose lease expired (a crashed host's deliveries return)", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test"]));
      const [d] = await q.lease(zone, { owner: "crashed", limit: 10, leaseMs: 1_000, now: 5_000 });
      expect(d).toBeDefined();
      const again = await q.lease(zone, { owner: "h2", limit: 10, leaseMs: 1_000, now: 6_001 });
      expect(again.map((x) => x.id)).toEqual([d!.id]);
      expect(
        await q.complete(d!.id, "crashed", { outcome: "delivered", attempt: attempt(d!.id, "delivered", "250 ok") }),
      ).toBe(false);
    });

    it("renews a lease so in-flight work does not come back", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test"]));
      const [d] = await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 1_000, now: 5_000 });
      await q.renew([d!.id], "h1", 60_000);
      expect(await q.lease(zone, { owner: "h2", limit: 10, leaseMs: 1_000, now: 10_000 })).toEqual([]);
    });

    it("completes as delivered once; a duplicate completion is harmless", async () => {
      const m = message();
      await q.enqueue(m, deliveries(zone, ["a@one.test"]));
      const [d] = await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 60_000, now: 5_000 });
      const done = { outcome: "delivered" as const, attempt: attempt(d!.id, "delivered", "250 2.0.0 queued as X") };
      expect(await q.complete(d!.id, "h1", done)).toBe(true);
      expect(await q.complete(d!.id, "h1", done)).toBe(false);
      const status = await q.getMessage(m.id);
      expect(status?.deliveries[0]).toMatchObject({
        state: "delivered",
        attempts: 1,
        lastResponse: "250 2.0.0 queued as X",
      });
      expect(status!.deliveries[0]!.history).toHaveLength(1);
      expect(status!.deliveries[0]!.history[0]).toMatchObject({
        localAddress: "127.0.0.2",
        mx: "mx.example.test",
        tls: true,
      });
    });

    it("defers until the given time, then leases again", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test"]));
      const [d] = await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 60_000, now: 5_000 });
      await q.complete(d!.id, "h1", {
        outcome: "deferred",
        nextAttemptAt: 20_000,
        attempt: attempt(d!.id, "deferred", "451 4.3.0 try later"),
      });
      expect(await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 60_000, now: 19_999 })).toEqual([]);
      expect(await q.nextDueAt(zone)).toBe(20_000);
      const [again] = await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 60_000, now: 20_000 });
      expect(again).toMatchObject({ id: d!.id, state: "deferred", attempts: 1 });
    });

    it("reports finished messages for garbage collection only when every delivery is final", async () => {
      const m = message();
      await q.enqueue(m, deliveries(zone, ["a@one.test", "b@one.test"]));
      const leased = await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 60_000, now: 5_000 });
      await q.complete(leased[0]!.id, "h1", {
        outcome: "bounced",
        attempt: attempt(leased[0]!.id, "bounced", "550 no"),
      });
      expect((await q.finishedMessages(100)).map((x) => x.id)).not.toContain(m.id);
      expect(await q.hasBody(m.bodyId)).toBe(true);
      await q.complete(leased[1]!.id, "h1", {
        outcome: "delivered",
        attempt: attempt(leased[1]!.id, "delivered", "250"),
      });
      expect(await q.finishedMessages(100)).toContainEqual({ id: m.id, bodyId: m.bodyId });
      await q.markBodyRemoved(m.id);
      expect((await q.finishedMessages(100)).map((x) => x.id)).not.toContain(m.id);
      expect(await q.hasBody(m.bodyId)).toBe(false);
    });

    it("cancels what is not final, leaving delivered recipients alone", async () => {
      const m = message();
      await q.enqueue(m, deliveries(zone, ["a@one.test", "b@one.test"]));
      const [first] = await q.lease(zone, { owner: "h1", limit: 1, leaseMs: 60_000, now: 5_000 });
      await q.complete(first!.id, "h1", { outcome: "delivered", attempt: attempt(first!.id, "delivered", "250") });
      expect(await q.cancel(m.id, 6_000)).toBe(1);
      expect(await q.cancel(m.id, 6_000)).toBe(0);
      const states = (await q.getMessage(m.id))!.deliveries.map((d) => d.state).sort();
      expect(states).toEqual(["cancelled", "delivered"]);
      expect(await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 60_000, now: 7_000 })).toEqual([]);
      expect((await q.finishedMessages(100)).map((x) => x.id)).toContain(m.id);
    });

    it("returns the first message for a repeated idempotency key, until it expires", async () => {
      const first = message();
      const claim = { scope: "key-1", key: uid("idem"), expiresAt: Date.now() + 60_000 };
      expect(await q.enqueue(first, deliveries(zone, ["a@one.test"]), claim)).toEqual({ created: true });
      const second = message();
      expect(await q.enqueue(second, deliveries(zone, ["a@one.test"]), claim)).toEqual({
        created: false,
        existingMessageId: first.id,
      });
      expect(await q.getMessage(second.id)).toBeUndefined();
      expect(await q.enqueue(message(), deliveries(zone, ["a@one.test"]), { ...claim, scope: "key-2" })).toEqual({
        created: true,
      });
    });

    it("releases an owner's leases on shutdown so another host takes them at once", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test", "b@one.test"]));
      await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 60_000, now: 5_000 });
      expect(await q.release("h1")).toBe(2);
      expect(await q.lease(zone, { owner: "h2", limit: 10, leaseMs: 60_000, now: 5_001 })).toHaveLength(2);
    });

    it("is healthy when it works", () => {
      expect(q.unhealthyReason()).toBeUndefined();
    });
  });
}
