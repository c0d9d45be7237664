// The Coordinator contract: every adapter runs these same tests unchanged. A behaviour not tested here is not promised.
// Time-dependent cases use real short waits (the Redis adapter runs on the server's clock), with margins wide enough
// for a loaded two-core machine.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Coordinator } from "../../shared/ports/coordinator.ts";

export interface CoordinatorFixture {
  /** A coordinator that sees no state left by other tests. */
  coordinator: Coordinator;
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const HOUR = 3_600_000;

export function describeCoordinatorContract(name: string, make: () => Promise<CoordinatorFixture>) {
  describe(`Coordinator contract: ${name}`, () => {
    let fx: CoordinatorFixture;
    let c: Coordinator;
    beforeEach(async () => {
      fx = await make();
      c = fx.coordinator;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    describe("locks", () => {
      it("grants a lock to one owner at a time, and not twice to the same owner", async () => {
        const grant = await c.acquire("zone:default", "host-a", 10_000);
        expect(grant?.token).toBeGreaterThan(0);
        expect(await c.acquire("zone:default", "host-b", 10_000)).toBeUndefined();
        expect(await c.acquire("zone:default", "host-a", 10_000)).toBeUndefined();
        expect(await c.acquire("zone:other", "host-b", 10_000)).toBeDefined();
      });

      it("grants exactly one of 20 concurrent acquirers", async () => {
        const grants = await Promise.all(Array.from({ length: 20 }, (_, i) => c.acquire("race", `owner-${i}`, 10_000)));
        expect(grants.filter(Boolean)).toHaveLength(1);
      });

      it("lets another owner in once the holder's TTL has passed", async () => {
        expect(await c.acquire("gc", "crashed", 100)).toBeDefined();
        expect(await c.acquire("gc", "other", 10_000)).toBeUndefined();
        await sleep(180);
        expect(await c.acquire("gc", "other", 10_000)).toBeDefined();
      });

      it("issues strictly increasing fencing tokens across releases and expiries", async () => {
        const first = await c.acquire("fence", "a", 10_000);
        expect(await c.releaseLock("fence", "a", first!.token)).toBe(true);
        const second = await c.acquire("fence", "b", 60);
        await sleep(120);
        const third = await c.acquire("fence", "a", 10_000);
        expect(second!.token).toBeGreaterThan(first!.token);
        expect(third!.token).toBeGreaterThan(second!.token);
      });

      it("renews only for the holder with its token, which keeps the lock past the first TTL", async () => {
        const grant = await c.acquire("renew", "a", 150);
        const token = grant!.token;
        expect(await c.renew("renew", "b", token, 10_000)).toBe(false);
        expect(await c.renew("renew", "a", token + 1, 10_000)).toBe(false);
        expect(await c.renew("renew", "a", token, 1_000)).toBe(true);
        await sleep(250);
        expect(await c.acquire("renew", "b", 10_000)).toBeUndefined();
        expect(await c.renew("missing", "a", token, 1_000)).toBe(false);
      });

      it("cannot renew a lock whose TTL has passed", async () => {
        const grant = await c.acquire("late", "a", 60);
        await sleep(120);
        expect(await c.renew("late", "a", grant!.token, 10_000)).toBe(false);
      });

      it("releases only for the holder with its token, once", async () => {
        const grant = await c.acquire("rel", "a", 10_000);
        expect(await c.releaseLock("rel", "b", grant!.token)).toBe(false);
        expect(await c.releaseLock("rel", "a", grant!.token - 1)).toBe(false);
        expect(await c.acquire("rel", "b", 10_000)).toBeUndefined();
        expect(await c.releaseLock("rel", "a", grant!.token)).toBe(true);
        expect(await c.releaseLock("rel", "a", grant!.token)).toBe(false);
        expect(await c.acquire("rel", "b", 10_000)).toBeDefined();
      });

      it("does not let a stale holder release its successor's lock", async () => {
        const old = await c.acquire("stale", "a", 60);
        await sleep(120);
        const next = await c.acquire("stale", "a", 10_000); // same owner name, e.g. a restarted host
        expect(await c.releaseLock("stale", "a", old!.token)).toBe(false);
        expect(await c.renew("stale", "a", old!.token, 10_000)).toBe(false);
        expect(await c.releaseLock("stale", "a", next!.token)).toBe(true);
      });
    });

    describe("concurrency slots", () => {
      it("never admits more than the limit among 50 concurrent acquirers", async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => c.acquireSlot("domain:gmail.com", `conn-${i}`, 5, 10_000)),
        );
        expect(results.filter(Boolean)).toHaveLength(5);
        expect(await c.slotCount("domain:gmail.com")).toBe(5);
      });

      it("admits a holder again without taking a second slot, refreshing its TTL", async () => {
        expect(await c.acquireSlot("s", "a", 2, 150)).toBe(true);
        expect(await c.acquireSlot("s", "a", 2, 10_000)).toBe(true);
        expect(await c.slotCount("s")).toBe(1);
        expect(await c.acquireSlot("s", "b", 2, 10_000)).toBe(true);
        expect(await c.acquireSlot("s", "c", 2, 10_000)).toBe(false);
        await sleep(250); // a's first TTL has passed, the refreshed one has not
        expect(await c.slotCount("s")).toBe(2);
        expect(await c.acquireSlot("s", "a", 2, 10_000)).toBe(true);
      });

      it("frees the slot of a holder whose TTL has passed (a crashed host)", async () => {
        expect(await c.acquireSlot("ip:192.0.2.1", "crashed", 1, 100)).toBe(true);
        expect(await c.acquireSlot("ip:192.0.2.1", "alive", 1, 10_000)).toBe(false);
        await sleep(180);
        expect(await c.slotCount("ip:192.0.2.1")).toBe(0);
        expect(await c.acquireSlot("ip:192.0.2.1", "alive", 1, 10_000)).toBe(true);
      });

      it("frees a released slot; releasing is idempotent", async () => {
        expect(await c.acquireSlot("r", "a", 1, 10_000)).toBe(true);
        await c.releaseSlot("r", "a");
        await c.releaseSlot("r", "a");
        await c.releaseSlot("r", "never-held");
        expect(await c.slotCount("r")).toBe(0);
        expect(await c.acquireSlot("r", "b", 1, 10_000)).toBe(true);
      });

      it("admits nobody when the limit is 0, and counts keys separately", async () => {
        expect(await c.acquireSlot("zero", "a", 0, 10_000)).toBe(false);
        expect(await c.acquireSlot("one", "a", 1, 10_000)).toBe(true);
        expect(await c.slotCount("zero")).toBe(0);
        expect(await c.slotCount("unknown")).toBe(0);
      });
    });

    describe("windowed counters", () => {
      it("adds within the current window and returns the new count", async () => {
        expect(await c.count("warmup:192.0.2.1", HOUR)).toBe(0);
        expect(await c.increment("warmup:192.0.2.1", 3, HOUR)).toBe(3);
        expect(await c.increment("warmup:192.0.2.1", 2, HOUR)).toBe(5);
        expect(await c.count("warmup:192.0.2.1", HOUR)).toBe(5);
      });

      it("counts each key and each window size separately", async () => {
        await c.increment("k", 1, HOUR);
        await c.increment("k", 10, 60_000);
        await c.increment("other", 100, HOUR);
        expect(await c.count("k", HOUR)).toBe(1);
        expect(await c.count("k", 60_000)).toBe(10);
        expect(await c.count("other", HOUR)).toBe(100);
      });

      it("starts from zero in the next window", async () => {
        await c.increment("short", 7, 100);
        await sleep(220); // at least one whole window later
        expect(await c.count("short", 100)).toBe(0);
        expect(await c.increment("short", 1, 100)).toBe(1);
      });

      it("loses no increment among 50 concurrent callers", async () => {
        const counts = await Promise.all(Array.from({ length: 50 }, () => c.increment("busy", 1, HOUR)));
        expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
        expect(await c.count("busy", HOUR)).toBe(50);
      });
    });

    describe("token buckets", () => {
      it("allows the burst at once, then refuses with the wait until the next token", async () => {
        const spec = { rate: 10, burst: 5 };
        for (let i = 0; i < 5; i++) expect(await c.take("b", spec)).toEqual({ ok: true, waitMs: 0 });
        const refused = await c.take("b", spec);
        expect(refused.ok).toBe(false);
        expect(refused.waitMs).toBeGreaterThan(50); // one token per 100 ms, minus the time the five takes took
        expect(refused.waitMs).toBeLessThanOrEqual(100);
      });

      it("gives waitMs accurately: refused halfway, allowed once it has passed", async () => {
        const spec = { rate: 4, burst: 2 }; // a token every 250 ms
        await c.take("w", spec);
        await c.take("w", spec);
        const first = await c.take("w", spec);
        expect(first.ok).toBe(false);
        expect(first.waitMs).toBeGreaterThan(150);
        await sleep(first.waitMs / 2);
        const halfway = await c.take("w", spec);
        expect(halfway.ok).toBe(false); // a refused take removed nothing, and the token is not there yet
        expect(halfway.waitMs).toBeGreaterThan(0);
        expect(halfway.waitMs).toBeLessThan(first.waitMs);
        await sleep(halfway.waitMs + 5);
        expect((await c.take("w", spec)).ok).toBe(true);
      });

      it("refills smoothly: over one second about rate + burst pass, spread out after the burst", async () => {
        const spec = { rate: 10, burst: 5 };
        const start = Date.now();
        const passed: number[] = [];
        while (Date.now() - start < 1000) {
          const r = await c.take("smooth", spec);
          if (r.ok) passed.push(Date.now() - start);
          else await sleep(Math.min(r.waitMs, 1000 - (Date.now() - start)) + 1);
        }
        expect(passed.length).toBeGreaterThanOrEqual(13);
        expect(passed.length).toBeLessThanOrEqual(16);
        expect(passed.filter((t) => t < 60)).toHaveLength(5); // the burst, and nothing more right away
        expect(passed.filter((t) => t < 520).length).toBeLessThanOrEqual(11); // then about one per 100 ms
      });

      it("takes several tokens at once and counts the missing ones in waitMs", async () => {
        const spec = { rate: 10, burst: 5 };
        expect((await c.take("cost", { ...spec, cost: 5 })).ok).toBe(true);
        const r = await c.take("cost", { ...spec, cost: 3 });
        expect(r.ok).toBe(false);
        expect(r.waitMs).toBeGreaterThan(250);
        expect(r.waitMs).toBeLessThanOrEqual(300);
        expect((await c.take("other-key", spec)).ok).toBe(true);
      });

      it("rejects a cost above the burst and a non-positive rate", async () => {
        await expect(c.take("bad", { rate: 10, burst: 2, cost: 3 })).rejects.toThrow(RangeError);
        await expect(c.take("bad", { rate: 0, burst: 2 })).rejects.toThrow(RangeError);
      });
    });

    describe("flags", () => {
      it("sets, replaces, reads and clears a flag", async () => {
        expect(await c.getFlag("suspend:192.0.2.1|gmail.com")).toBeUndefined();
        await c.setFlag("suspend:192.0.2.1|gmail.com", "421 4.7.0 try later", 10_000);
        expect(await c.getFlag("suspend:192.0.2.1|gmail.com")).toBe("421 4.7.0 try later");
        await c.setFlag("suspend:192.0.2.1|gmail.com", "550 5.7.1 blocked", 10_000);
        expect(await c.getFlag("suspend:192.0.2.1|gmail.com")).toBe("550 5.7.1 blocked");
        await c.clearFlag("suspend:192.0.2.1|gmail.com");
        await c.clearFlag("suspend:192.0.2.1|gmail.com");
        expect(await c.getFlag("suspend:192.0.2.1|gmail.com")).toBeUndefined();
        expect(await c.listFlags("")).toEqual([]);
      });

      it("forgets a flag once its TTL has passed", async () => {
        await c.setFlag("brief", "x", 100);
        await c.setFlag("lasting", "y", 10_000);
        await sleep(180);
        expect(await c.getFlag("brief")).toBeUndefined();
        expect((await c.listFlags("")).map((f) => f.key)).toEqual(["lasting"]);
      });

      it("lists unexpired flags by key prefix, sorted by key, with their expiry time", async () => {
        const before = Date.now();
        await c.setFlag("suspend:192.0.2.1|yahoo.com", "b", 60_000);
        await c.setFlag("suspend:192.0.2.1|gmail.com", "a", 30_000);
        await c.setFlag("suspend:192.0.2.2|gmail.com", "c", 60_000);
        await c.setFlag("other", "d", 60_000);
        const listed = await c.listFlags("suspend:192.0.2.1|");
        expect(listed.map((f) => [f.key, f.value])).toEqual([
          ["suspend:192.0.2.1|gmail.com", "a"],
          ["suspend:192.0.2.1|yahoo.com", "b"],
        ]);
        // On the coordinator's clock, which here is this machine's (same host) give or take a second.
        expect(Math.abs(listed[0]!.expiresAt - (before + 30_000))).toBeLessThan(1_000);
        expect((await c.listFlags("suspend:")).length).toBe(3);
        expect((await c.listFlags("")).length).toBe(4);
        expect(await c.listFlags("nothing")).toEqual([]);
      });

      it("treats the prefix literally (no pattern characters) and handles non-ASCII keys", async () => {
        await c.setFlag("a*b", "1", 10_000);
        await c.setFlag("ab", "2", 10_000);
        await c.setFlag("[x]", "3", 10_000);
        await c.setFlag("dom:bücher.example", "4", 10_000);
        expect((await c.listFlags("a*")).map((f) => f.key)).toEqual(["a*b"]);
        expect((await c.listFlags("[")).map((f) => f.key)).toEqual(["[x]"]);
        expect((await c.listFlags("dom:bü")).map((f) => f.value)).toEqual(["4"]);
      });
    });

    describe("health", () => {
      it("is healthy while working and says why once closed", async () => {
        expect(c.unhealthyReason()).toBeUndefined();
        await c.close();
        expect(c.unhealthyReason()).toMatch(/closed/);
        await expect(c.acquire("after-close", "a", 1_000)).rejects.toThrow();
      });

      it("rejects a non-positive TTL or window", async () => {
        await expect(c.acquire("x", "a", 0)).rejects.toThrow(RangeError);
        await expect(c.acquireSlot("x", "a", 1, -1)).rejects.toThrow(RangeError);
        await expect(c.increment("x", 1, 0)).rejects.toThrow(RangeError);
        await expect(c.setFlag("x", "v", 0)).rejects.toThrow(RangeError);
      });
    });
  });
}
