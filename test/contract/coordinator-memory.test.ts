import { describe, expect, it } from "vitest";
import { createMemoryCoordinator } from "../../shared/adapters/coordinator/memory.ts";
import { describeCoordinatorContract } from "./coordinator-contract.ts";

describeCoordinatorContract("memory", async () => {
  const coordinator = createMemoryCoordinator();
  return { coordinator, cleanup: () => coordinator.close() };
});

// Behaviour of the embedded adapter only: its clock is injected, so these move time exactly instead of sleeping.
describe("memory coordinator on a manual clock", () => {
  const DAY = 86_400_000;
  const manual = (now: number) => ({ now: () => now, set: (t: number) => (now = t) });

  it("aligns windows to the epoch, so a day window is a UTC day", async () => {
    const clock = manual(Date.UTC(2026, 0, 1, 23, 59, 59, 999));
    const c = createMemoryCoordinator({ clock });
    expect(await c.increment("warmup:192.0.2.1", 100, DAY)).toBe(100);
    clock.set(Date.UTC(2026, 0, 2, 0, 0, 0, 0));
    expect(await c.count("warmup:192.0.2.1", DAY)).toBe(0);
    expect(await c.increment("warmup:192.0.2.1", 1, DAY)).toBe(1);
    clock.set(Date.UTC(2026, 0, 2, 23, 59, 59, 999));
    expect(await c.count("warmup:192.0.2.1", DAY)).toBe(1);
  });

  it("refills a bucket continuously and computes waitMs exactly", async () => {
    const clock = manual(1_000_000);
    const c = createMemoryCoordinator({ clock });
    const spec = { rate: 10, burst: 5 };
    for (let i = 0; i < 5; i++) expect((await c.take("b", spec)).ok).toBe(true);
    expect(await c.take("b", spec)).toEqual({ ok: false, waitMs: 100 });
    clock.set(1_000_040);
    expect(await c.take("b", spec)).toEqual({ ok: false, waitMs: 60 });
    clock.set(1_000_100);
    expect(await c.take("b", spec)).toEqual({ ok: true, waitMs: 0 });
    clock.set(1_000_350); // 2.5 tokens later
    expect(await c.take("b", { ...spec, cost: 2 })).toEqual({ ok: true, waitMs: 0 });
    expect(await c.take("b", spec)).toEqual({ ok: false, waitMs: 50 });
    clock.set(1_100_000); // long idle: full, never more than the burst
    expect(await c.take("b", { ...spec, cost: 5 })).toEqual({ ok: true, waitMs: 0 });
    expect((await c.take("b", spec)).ok).toBe(false);
  });

  it("expires locks, slots and flags exactly at their TTL", async () => {
    const clock = manual(5_000);
    const c = createMemoryCoordinator({ clock });
    await c.acquire("l", "a", 1_000);
    await c.acquireSlot("s", "a", 1, 1_000);
    await c.setFlag("f", "v", 1_000);
    clock.set(5_999);
    expect(await c.acquire("l", "b", 1_000)).toBeUndefined();
    expect(await c.acquireSlot("s", "b", 1, 1_000)).toBe(false);
    expect(await c.listFlags("")).toEqual([{ key: "f", value: "v", expiresAt: 6_000 }]);
    clock.set(6_000);
    expect(await c.acquire("l", "b", 1_000)).toBeDefined();
    expect(await c.acquireSlot("s", "b", 1, 1_000)).toBe(true);
    expect(await c.getFlag("f")).toBeUndefined();
  });
});
