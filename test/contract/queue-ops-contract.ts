// The QueueOps contract: every adapter that offers queue operations runs these same tests unchanged.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Attempt, MessageRecord, NewDelivery } from "../../shared/domain/envelope.ts";
import type { Queue } from "../../shared/ports/queue.ts";
import type { QueueOps } from "../../shared/ports/queue-ops.ts";

export interface QueueOpsFixture {
  queue: Queue;
  ops: QueueOps;
  cleanup(): Promise<void>;
}

// Real time, as in the Queue contract: some backends keep their own clock.
const now = () => Date.now();
const HOUR = 3_600_000;

let counter = 0;
const uid = (prefix: string) =>
  `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;

function message(overrides: Partial<MessageRecord> = {}): MessageRecord {
  const id = uid("m");
  return {
    id,
    bodyId: `b${id}`,
    from: "sender@example.test",
    size: 321,
    receivedAt: now(),
    messageIdHeader: `<${id}@example.test>`,
    subject: "Ops",
    source: { interface: "api", name: "api" },
    ...overrides,
  };
}

function deliveries(zone: string, recipients: string[], nextAttemptAt = now()): NewDelivery[] {
  return recipients.map((recipient) => ({
    id: uid("d"),
    zone,
    recipient,
    domain: recipient.split("@")[1]!,
    nextAttemptAt,
  }));
}

const attempt = (deliveryId: string, outcome: Attempt["outcome"], response: string): Attempt => ({
  deliveryId,
  at: now(),
  durationMs: 10,
  outcome,
  response,
});

export function describeQueueOpsContract(name: string, make: () => Promise<QueueOpsFixture>) {
  describe(`QueueOps contract: ${name}`, () => {
    let fx: QueueOpsFixture;
    let q: Queue;
    let ops: QueueOps;
    let zone: string;
    beforeEach(async () => {
      fx = await make();
      q = fx.queue;
      ops = fx.ops;
      zone = uid("zone");
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    /** Leases every due delivery of the zone as `owner`. */
    const leaseAll = (owner = "h1") => q.lease(zone, { owner, limit: 100, leaseMs: 60_000, now: now() });

    /** Enqueues one message per recipient and defers each with a reply, due in an hour. */
    async function deferred(recipients: string[], reply = "451 4.7.1 greylisted, try later") {
      for (const r of recipients) await q.enqueue(message(), deliveries(zone, [r]));
      const leased = await leaseAll();
      for (const d of leased) {
        await q.complete(d.id, "h1", {
          outcome: "deferred",
          attempt: attempt(d.id, "deferred", reply),
          nextAttemptAt: now() + HOUR,
        });
      }
      return leased.map((d) => d.id);
    }

    const ids = async (filter: Parameters<QueueOps["list"]>[0]) =>
      (await ops.list({ zone, ...filter }, { limit: 100 })).items.map((d) => d.recipient).sort();

    it("lists open deliveries with their message, filtered by zone, domain, state, age and last reply", async () => {
      await deferred(["a@one.test"], "451 4.7.1 greylisted");
      await deferred(["b@two.test"], "421 4.7.0 too many connections");
      const old = message({ receivedAt: now() - 2 * HOUR });
      await q.enqueue(old, deliveries(zone, ["c@one.test"], now() + HOUR));
      await q.enqueue(message(), deliveries(`${zone}-other`, ["x@one.test"]));

      const all = await ops.list({ zone }, { limit: 100 });
      expect(all.nextCursor).toBeUndefined();
      const a = all.items.find((d) => d.recipient === "a@one.test")!;
      expect(a).toMatchObject({
        zone,
        domain: "one.test",
        state: "deferred",
        opsState: "deferred",
        held: false,
        leased: false,
        attempts: 1,
        lastResponse: "451 4.7.1 greylisted",
        from: "sender@example.test",
        subject: "Ops",
        size: 321,
      });
      expect(a.receivedAt).toBeGreaterThan(now() - 60_000);
      expect(await ids({})).toEqual(["a@one.test", "b@two.test", "c@one.test"]);
      expect(await ids({ domain: "one.test" })).toEqual(["a@one.test", "c@one.test"]);
      expect(await ids({ state: ["queued"] })).toEqual(["c@one.test"]);
      expect(await ids({ state: ["deferred"] })).toEqual(["a@one.test", "b@two.test"]);
      expect(await ids({ receivedBefore: now() - HOUR })).toEqual(["c@one.test"]);
      expect(await ids({ receivedAfter: now() - HOUR })).toEqual(["a@one.test", "b@two.test"]);
      expect(await ids({ reply: "GREYLIST" })).toEqual(["a@one.test"]);
      expect(await ids({ messageId: old.id })).toEqual(["c@one.test"]);
      expect(await ids({ ids: [a.id] })).toEqual(["a@one.test"]);
    });

    it("pages with a cursor in arrival order, without repeating or skipping", async () => {
      const recipients = Array.from({ length: 7 }, (_, i) => `r${i}@one.test`);
      for (const r of recipients) await q.enqueue(message(), deliveries(zone, [r], now() + HOUR));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await ops.list({ zone }, { limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((d) => d.recipient));
        cursor = page.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(recipients);
    });

    it("counts open deliveries by zone and state", async () => {
      await deferred(["a@one.test", "b@one.test"]);
      await q.enqueue(message(), deliveries(zone, ["c@one.test", "d@one.test", "e@one.test"], now() + HOUR));
      await ops.hold(
        { zone, ids: (await ops.list({ zone, state: ["queued"] }, { limit: 1 })).items.map((d) => d.id) },
        now(),
      );
      const mine = (await ops.counts()).filter((c) => c.zone === zone);
      expect(mine.sort((x, y) => x.state.localeCompare(y.state))).toEqual([
        { zone, state: "deferred", count: 2 },
        { zone, state: "held", count: 1 },
        { zone, state: "queued", count: 2 },
      ]);
    });

    it("retries deferred deliveries now: they are leased at once", async () => {
      const [id] = await deferred(["a@one.test"]);
      expect(await leaseAll("h2")).toEqual([]);
      expect(await ops.retry({ zone, ids: [id!] }, now())).toBe(1);
      expect(await ops.retry({ zone, ids: [id!] }, now())).toBe(0); // already due: nothing more changes
      expect((await leaseAll("h2")).map((d) => d.id)).toEqual([id]);
    });

    it("never leases a held delivery until it is released, and shows it as held", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test", "b@one.test"]));
      const [a] = (await ops.list({ zone }, { limit: 1 })).items;
      expect(await ops.hold({ ids: [a!.id] }, now())).toBe(1);
      expect(await ops.hold({ ids: [a!.id] }, now())).toBe(0);
      const held = await ops.list({ zone, state: ["held"] }, { limit: 10 });
      expect(held.items.map((d) => [d.id, d.opsState, d.held])).toEqual([[a!.id, "held", true]]);
      expect((await leaseAll()).map((d) => d.recipient)).toEqual(["b@one.test"]);
      expect(await leaseAll("h2")).toEqual([]);
      expect(await q.nextDueAt(zone)).not.toBe(a!.nextAttemptAt); // the held one is not "due" for the sender
      expect(await ops.release({ zone }, now())).toBe(1);
      expect((await leaseAll("h2")).map((d) => d.id)).toEqual([a!.id]);
    });

    it("lets an attempt in flight finish when its delivery is held, and keeps it held after a deferral", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test"]));
      const [d] = await leaseAll();
      expect(await ops.hold({ zone }, now())).toBe(1);
      const ok = await q.complete(d!.id, "h1", {
        outcome: "deferred",
        attempt: attempt(d!.id, "deferred", "451 later"),
        nextAttemptAt: now(),
      });
      expect(ok).toBe(true);
      expect(await leaseAll("h2")).toEqual([]);
      const [listed] = (await ops.list({ zone }, { limit: 10 })).items;
      expect(listed).toMatchObject({ state: "deferred", opsState: "held", lastResponse: "451 later", attempts: 1 });
    });

    it("drops deliveries silently: cancelled, never leased, a late completion refused", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test"]));
      const m2 = message();
      await q.enqueue(m2, deliveries(zone, ["b@two.test"]));
      const [leased] = (await leaseAll()).filter((d) => d.recipient === "a@one.test");
      const result = await ops.remove({ zone, domain: "one.test" }, { mode: "drop", reason: "spam run", now: now() });
      expect(result).toEqual({ count: 1, bounced: [] });
      expect(
        await q.complete(leased!.id, "h1", { outcome: "delivered", attempt: attempt(leased!.id, "delivered", "250") }),
      ).toBe(false);
      expect(await ids({ state: ["cancelled"] })).toEqual(["a@one.test"]);
      expect(await ids({})).toEqual(["b@two.test"]);
      expect((await q.getMessage(m2.id))?.deliveries[0]?.state).toBe("queued");
    });

    it("bounces deliveries with the operator's reason and returns them with their message for a DSN", async () => {
      const m = message();
      await q.enqueue(m, deliveries(zone, ["a@one.test", "b@one.test"], now() + HOUR));
      const result = await ops.remove(
        { messageId: m.id },
        { mode: "bounce", reason: "5.0.0 deleted by operator", now: now() },
      );
      expect(result.count).toBe(2);
      expect(result.bounced.map((d) => [d.recipient, d.state, d.message.id, d.message.from]).sort()).toEqual([
        ["a@one.test", "bounced", m.id, m.from],
        ["b@one.test", "bounced", m.id, m.from],
      ]);
      const status = await q.getMessage(m.id);
      expect(status?.deliveries.map((d) => d.state)).toEqual(["bounced", "bounced"]);
      expect(status?.deliveries[0]?.history.at(-1)).toMatchObject({
        outcome: "bounced",
        response: "5.0.0 deleted by operator",
      });
      // Finished: its body may now be collected; and doing it again changes nothing.
      expect((await q.finishedMessages(1000)).map((f) => f.id)).toContain(m.id);
      expect((await ops.remove({ messageId: m.id }, { mode: "bounce", reason: "x", now: now() })).count).toBe(0);
    });

    it("flushes a domain: every deferred delivery to it is due now, others stay deferred", async () => {
      await deferred(["a@one.test", "b@one.test", "c@two.test"]);
      expect(await ops.flush("one.test", now(), zone)).toBe(2);
      expect((await leaseAll("h2")).map((d) => d.recipient).sort()).toEqual(["a@one.test", "b@one.test"]);
    });

    it("never changes final deliveries, whatever the filter says", async () => {
      await q.enqueue(message(), deliveries(zone, ["a@one.test"]));
      const [d] = await leaseAll();
      await q.complete(d!.id, "h1", { outcome: "delivered", attempt: attempt(d!.id, "delivered", "250 ok") });
      const finals = { zone, state: ["delivered" as const] };
      expect(await ops.retry(finals, now())).toBe(0);
      expect(await ops.hold(finals, now())).toBe(0);
      expect((await ops.remove(finals, { mode: "drop", reason: "x", now: now() })).count).toBe(0);
      expect(await ids({ state: ["delivered"] })).toEqual(["a@one.test"]);
    });

    it("keeps an audit trail, newest first, paged", async () => {
      const actor = uid("key:");
      const base = now();
      for (let i = 0; i < 3; i++) {
        await ops.appendAudit({
          id: `${base.toString(36).padStart(9, "0")}${uid("a")}${i}`,
          at: base + i,
          actor,
          action: "queue.retry",
          target: { zone, n: i },
          affected: i,
          ...(i === 1 ? { detail: "why" } : {}),
        });
      }
      const first = await ops.listAudit({ limit: 2 });
      const mine = first.items.filter((e) => e.actor === actor);
      expect(mine.map((e) => e.target.n)).toEqual([2, 1]);
      expect(mine[1]).toMatchObject({ action: "queue.retry", affected: 1, detail: "why", target: { zone, n: 1 } });
      expect(first.nextCursor).toBeDefined();
      const second = await ops.listAudit({ limit: 2, cursor: first.nextCursor! });
      expect(second.items.filter((e) => e.actor === actor).map((e) => e.target.n)).toEqual([0]);
    });
  });
}
