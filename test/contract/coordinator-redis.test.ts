import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisCoordinator } from "../../shared/adapters/coordinator/redis.ts";
import type { Coordinator } from "../../shared/ports/coordinator.ts";
import {
  assertRedisUp,
  freePort,
  REDIS_URL,
  startThrowawayRedis,
  type ThrowawayRedis,
  uniquePrefix,
} from "../support/redis.ts";
import { describeCoordinatorContract } from "./coordinator-contract.ts";

let admin: Redis;
beforeAll(async () => {
  await assertRedisUp();
  admin = new Redis(REDIS_URL);
});
afterAll(async () => {
  await admin.quit();
});

async function deleteKeys(prefix: string) {
  const keys = await admin.keys(`${prefix}*`); // test prefixes hold a handful of keys
  if (keys.length > 0) await admin.del(...keys);
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeCoordinatorContract("redis", async () => {
  const prefix = uniquePrefix("contract");
  const coordinator = await createRedisCoordinator({ url: REDIS_URL, prefix });
  return {
    coordinator,
    cleanup: async () => {
      await coordinator.close();
      await deleteKeys(prefix);
    },
  };
});

// Behaviour of the cluster adapter only: several hosts (connections) share one Redis, which may go away.
describe("redis coordinator across hosts", () => {
  let prefix: string;
  let hostA: Coordinator;
  let hostB: Coordinator;
  beforeAll(async () => {
    prefix = uniquePrefix("hosts");
    hostA = await createRedisCoordinator({ url: REDIS_URL, prefix });
    hostB = await createRedisCoordinator({ url: REDIS_URL, prefix });
  });
  afterAll(async () => {
    await hostA.close();
    await hostB.close();
    await deleteKeys(prefix);
  });

  it("never lets two hosts together exceed a slot limit", async () => {
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 ? hostA : hostB).acquireSlot("mx:gmail", `conn-${i}`, 3, 10_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(3);
    expect(await hostA.slotCount("mx:gmail")).toBe(3);
    expect(await hostB.slotCount("mx:gmail")).toBe(3);
  });

  it("grants a lock to one host only, with fencing tokens that keep growing across hosts", async () => {
    const grants = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? hostA : hostB).acquire("zone:default", `host-${i}`, 10_000)),
    );
    const winners = grants.map((g, i) => (g ? { i, token: g.token } : undefined)).filter((w) => w !== undefined);
    expect(winners).toHaveLength(1);
    const { i, token } = winners[0]!;
    expect(await (i % 2 ? hostB : hostA).releaseLock("zone:default", `host-${i}`, token)).toBe(true);
    const next = await hostB.acquire("zone:default", "host-b", 10_000);
    expect(next!.token).toBeGreaterThan(token);
  });

  it("shares counters, buckets and flags between hosts", async () => {
    await hostA.increment("sent", 2, 3_600_000);
    expect(await hostB.increment("sent", 3, 3_600_000)).toBe(5);
    for (let n = 0; n < 3; n++)
      expect((await (n % 2 ? hostA : hostB).take("rate", { rate: 1, burst: 3 })).ok).toBe(true);
    expect((await hostA.take("rate", { rate: 1, burst: 3 })).ok).toBe(false);
    await hostA.setFlag("suspend:x", "421", 10_000);
    expect(await hostB.getFlag("suspend:x")).toBe("421");
  });

  it("keeps every key under its prefix, unseen by another prefix", async () => {
    const otherPrefix = uniquePrefix("other");
    const other = await createRedisCoordinator({ url: REDIS_URL, prefix: otherPrefix });
    try {
      await hostA.setFlag("shared-name", "mine", 10_000);
      await hostA.acquire("shared-name", "a", 10_000);
      expect(await other.getFlag("shared-name")).toBeUndefined();
      expect(await other.acquire("shared-name", "b", 10_000)).toBeDefined();
      const keys = await admin.keys(`${prefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.every((k) => k.startsWith(prefix))).toBe(true);
    } finally {
      await other.close();
      await deleteKeys(otherPrefix);
    }
  });
});

describe("redis coordinator when the server goes away", () => {
  let server: ThrowawayRedis;
  let c: Coordinator;
  beforeAll(async () => {
    server = await startThrowawayRedis();
    c = await createRedisCoordinator({ url: server.url, commandTimeoutMs: 300, maxReconnectDelayMs: 200 });
  });
  afterAll(async () => {
    server.resume();
    await c.close();
    await server.stop();
  });

  it("reports unhealthy, rejects at once while down, and recovers when the server is back", async () => {
    expect(await c.acquire("l", "a", 60_000)).toBeDefined();
    await server.stop();
    await waitFor("unhealthy", () => c.unhealthyReason() !== undefined, 2_000);
    expect(c.unhealthyReason()).toMatch(/redis/);
    const started = Date.now();
    await expect(c.acquireSlot("s", "a", 1, 1_000)).rejects.toThrow();
    await expect(c.take("b", { rate: 1, burst: 1 })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(200);

    await server.start(); // empty: the script cache is gone too
    await waitFor("healthy again", () => c.unhealthyReason() === undefined, 5_000);
    expect(await c.acquire("l", "b", 60_000)).toBeDefined(); // the old lock went with the server
    expect(await c.acquireSlot("s", "a", 1, 1_000)).toBe(true);
  });

  it("rejects within the command timeout when the server hangs, then carries on", async () => {
    server.pause();
    const started = Date.now();
    await expect(c.increment("n", 1, 60_000)).rejects.toThrow(/timed out/i);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(c.unhealthyReason()).toMatch(/not answering/);
    server.resume();
    await waitFor("healthy after the hang", async () => {
      try {
        await c.count("n", 60_000);
        return c.unhealthyReason() === undefined;
      } catch {
        return false;
      }
    });
    expect(await c.increment("n", 1, 60_000)).toBeGreaterThanOrEqual(1);
  });

  it("refuses to start when Redis cannot be reached in time", async () => {
    const port = await freePort();
    const started = Date.now();
    await expect(createRedisCoordinator({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300 })).rejects.toThrow(
      /not reachable within 300 ms/,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
