// The Queue contract: every adapter runs these same tests unchanged. A behaviour not tested here is not promised.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MessageRecord, NewDelivery } from "../../shared/domain/envelope.ts";
import type { Queue } from "../../shared/ports/queue.ts";

export interface QueueFixture {
  queue: Queue;
  /** A second, independent handle on the same backend (another host), where the backend allows one. */
  peer?: Queue;
  cleanup(): Promise<void>;
}

// Real time throughout: a backend such as SQS keeps its own clock for delays and visibility, so the suite that runs
// unchanged against every adapter waits for real (short) leases and deferrals rather than passing fake times.
const now = () => Date.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Leases until `expected` deliveries are in hand or the deadline passes (some backends hand out work in batches). */
async function leaseAll(q: Queue, zone: string, owner: string, expected: number, leaseMs = 60_000) {
  const got: Awaited<ReturnType<Queue["lease"]>> = [];
  const deadline = now() + 10_000;
  while (got.length < expected && now() < deadline) {
    got.push(...(await q.lease(zone, { owner, limit: expected - got.length, leaseMs, now: now() })));
  }
  return got;
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
    receivedAt: Date.now(),
    messageIdHeader: `<${id}@example.test>`,
    subject: "Hello",
    source: { interface: "smtp", name: "feeder", remoteAddress: "127.0.0.1" },
    ...overrides,
  };
}

function deliveries(zone: string, recipients: string[], nextAttemptAt = Date.now()): NewDelivery[] {
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
  at: Date.now(),
  durationMs: 15,
  outcome,
  response,
  localAddress: "127.0.0.2",
  mx: "mx.example.test",
  tls: true,
  tlsPolicy: "mta-sts",
  tlsVersion: "TLSv1.3",
  tlsCipher: "TLS_AES_256_GCM_SHA384",
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

    it("keeps a message's DKIM body hashes and added header fields, and hands them out with a lease", async () => {
      const m = message({
        dkimBodyHash: {
          relaxed: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
          simple: "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=",
        },
        extraHeaders: ["X-Rspamd-Score: 1.00 / 15.00", "X-Spam: Yes"],
      });
      await q.enqueue(m, deliveries(zone, ["a@one.test"]));
      const [leased] = await q.lease(zone, { owner: "o1", limit: 10, leaseMs: 60_000, now: Date.now() });
      for (const record of [leased!.message, (await q.getMessage(m.id))!.message]) {
        expect(record.dkimBodyHash).toEqual(m.dkimBodyHash);
        expect(record.extraHeaders).toEqual(m.extraHeaders);
      }
    });

    it("leases only due deliveries of the requested zone, once per lease", async () => {
      const m = message();
      await q.enqueue(m, [
        ...deliveries(zone, ["a@one.test"]),
        ...deliveries(zone, ["later@one.test"], now() + 3_600_000),
      ]);
      await q.enqueue(message(), deliveries(`${zone}-other`, ["x@one.test"]));
      const first = await leaseAll(q, zone, "h1", 1);
      expect(first.map((d) => d.recipient)).toEqual(["a@one.test"]);
      expect(first[0]!.message).toMatchObject({ id: m.id, bodyId: m.bodyId, from: m.from });
      expect(first[0]!.leaseOwner).toBe("h1");
      expect(await q.lease(zone, { owner: "h2", limit: 10, leaseMs: 60_000, now: now() })).toEqual([]);
    });

    it("gives back work whose lease expired (a crashed host's deliveries return)", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test"]));
      const [d] = await leaseAll(q, zone, "crashed", 1, 1_000);
      expect(d).toBeDefined();
      expect(await q.lease(zone, { owner: "h2", limit: 10, leaseMs: 1_000, now: now() })).toEqual([]);
      await sleep(1_300);
      const again = await leaseAll(q, zone, "h2", 1);
      expect(again.map((x) => x.id)).toEqual([d!.id]);
      expect(
        await q.complete(d!.id, "crashed", { outcome: "delivered", attempt: attempt(d!.id, "delivered", "250 ok") }),
      ).toBe(false);
      expect(
        await q.complete(d!.id, "h2", { outcome: "delivered", attempt: attempt(d!.id, "delivered", "250 ok") }),
      ).toBe(true);
    });

    it("renews a lease so in-flight work does not come back", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test"]));
      const [d] = await leaseAll(q, zone, "h1", 1, 1_000);
      await q.renew([d!.id], "h1", now() + 60_000);
      await sleep(1_300);
      expect(await q.lease(zone, { owner: "h2", limit: 10, leaseMs: 1_000, now: now() })).toEqual([]);
      expect(await q.complete(d!.id, "h1", { outcome: "delivered", attempt: attempt(d!.id, "delivered", "250") })).toBe(
        true,
      );
    });

    it("never hands one delivery to two competing consumers at once", async () => {
      const recipients = Array.from({ length: 30 }, (_, i) => `r${i}@one.test`);
      await q.enqueue(message(), deliveries(zone, recipients));
      const handles = [q, fx.peer ?? q];
      const seen: string[] = [];
      const deadline = now() + 15_000;
      while (seen.length < recipients.length && now() < deadline) {
        const batches = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            handles[i % 2]!.lease(zone, { owner: `host${i}`, limit: 4, leaseMs: 60_000, now: now() }),
          ),
        );
        for (const batch of batches) seen.push(...batch.map((d) => d.recipient));
      }
      expect(seen).toHaveLength(recipients.length);
      expect([...seen].sort()).toEqual([...recipients].sort());
    });

    it("completes as delivered once; a duplicate completion is harmless", async () => {
      const m = message();
      await q.enqueue(m, deliveries(zone, ["a@one.test"]));
      const [d] = await leaseAll(q, zone, "h1", 1);
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
        tlsPolicy: "mta-sts",
        tlsVersion: "TLSv1.3",
        tlsCipher: "TLS_AES_256_GCM_SHA384",
      });
    });

    it("defers until the given time, then leases again with the attempt counted", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test"]));
      const [d] = await leaseAll(q, zone, "h1", 1);
      const at = now() + 1_500;
      await q.complete(d!.id, "h1", {
        outcome: "deferred",
        nextAttemptAt: at,
        attempt: attempt(d!.id, "deferred", "451 4.3.0 try later"),
      });
      expect(await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 60_000, now: now() })).toEqual([]);
      // Backends that cannot tell (SQS) answer undefined and the sender polls; those that can must be exact.
      const due = await q.nextDueAt(zone);
      if (due !== undefined) expect(due).toBe(at);
      await sleep(at - now() + 50);
      const [again] = await leaseAll(q, zone, "h1", 1);
      expect(again).toMatchObject({ id: d!.id, state: "deferred", attempts: 1 });
    });

    it("reports finished messages for garbage collection only when every delivery is final", async () => {
      const m = message();
      await q.enqueue(m, deliveries(zone, ["a@one.test", "b@one.test"]));
      const leased = await leaseAll(q, zone, "h1", 2);
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
      const [first, second] = await leaseAll(q, zone, "h1", 2);
      await q.complete(first!.id, "h1", { outcome: "delivered", attempt: attempt(first!.id, "delivered", "250") });
      expect(await q.cancel(m.id, now())).toBe(1);
      expect(await q.cancel(m.id, now())).toBe(0);
      const states = (await q.getMessage(m.id))!.deliveries.map((d) => d.state).sort();
      expect(states).toEqual(["cancelled", "delivered"]);
      expect(await q.lease(zone, { owner: "h1", limit: 10, leaseMs: 60_000, now: now() })).toEqual([]);
      // A host that leased it before the cancel cannot resurrect it.
      expect(
        await q.complete(second!.id, "h1", { outcome: "delivered", attempt: attempt(second!.id, "delivered", "250") }),
      ).toBe(false);
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
      await leaseAll(q, zone, "h1", 2);
      expect(await q.release("h1")).toBe(2);
      expect(await leaseAll(q, zone, "h2", 2)).toHaveLength(2);
    });

    it("is healthy when it works", () => {
      expect(q.unhealthyReason()).toBeUndefined();
    });
  });
}
