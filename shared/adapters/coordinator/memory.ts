// Coordinator adapter for one process (embedded mode): plain Maps, time from the injected clock.
import { type Clock, systemClock } from "../../ports/clock.ts";
import {
  type Coordinator,
  checkArgs,
  type FlagEntry,
  type LockGrant,
  type TakeResult,
} from "../../ports/coordinator.ts";

export interface MemoryCoordinatorOptions {
  clock?: Clock;
}

// Expired entries are dropped when touched, and all of them every SWEEP_EVERY operations, so keys that are never
// touched again (a destination that stopped receiving mail) do not pile up.
const SWEEP_EVERY = 1024;

/**
 * Every operation runs synchronously to completion before its promise settles, and JavaScript runs one piece of
 * code at a time, so each operation is atomic with respect to every other caller in this process.
 */
export function createMemoryCoordinator(options: MemoryCoordinatorOptions = {}): Coordinator {
  const clock = options.clock ?? systemClock;
  const locks = new Map<string, { owner: string; token: number; expiresAt: number }>();
  const lastToken = new Map<string, number>(); // kept after a lock ends: fencing tokens never repeat
  const slots = new Map<string, Map<string, number>>(); // key → holder → expiresAt
  const counters = new Map<string, { window: number; count: number; expiresAt: number }>();
  const buckets = new Map<string, { tokens: number; at: number; expiresAt: number }>();
  const flags = new Map<string, { value: string; expiresAt: number }>();
  let closed = false;
  let ops = 0;

  function begin(): number {
    if (closed) throw new Error("coordinator is closed");
    const now = clock.now();
    if (++ops % SWEEP_EVERY === 0) sweep(now);
    return now;
  }

  function sweep(now: number) {
    for (const map of [locks, counters, buckets, flags]) {
      for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
    for (const key of slots.keys()) liveHolders(key, now);
  }

  function liveHolders(key: string, now: number): Map<string, number> | undefined {
    const holders = slots.get(key);
    if (!holders) return undefined;
    for (const [holder, expiresAt] of holders) if (expiresAt <= now) holders.delete(holder);
    if (holders.size === 0) {
      slots.delete(key);
      return undefined;
    }
    return holders;
  }

  function liveLock(key: string, now: number) {
    const lock = locks.get(key);
    if (lock && lock.expiresAt <= now) {
      locks.delete(key);
      return undefined;
    }
    return lock;
  }

  function liveFlag(key: string, now: number) {
    const flag = flags.get(key);
    if (flag && flag.expiresAt <= now) {
      flags.delete(key);
      return undefined;
    }
    return flag;
  }

  return {
    async acquire(key, owner, ttlMs): Promise<LockGrant | undefined> {
      checkArgs.ttl(ttlMs);
      const now = begin();
      if (liveLock(key, now)) return undefined;
      const token = (lastToken.get(key) ?? 0) + 1;
      lastToken.set(key, token);
      locks.set(key, { owner, token, expiresAt: now + ttlMs });
      return { token };
    },

    async renew(key, owner, token, ttlMs) {
      checkArgs.ttl(ttlMs);
      const now = begin();
      const lock = liveLock(key, now);
      if (!lock || lock.owner !== owner || lock.token !== token) return false;
      lock.expiresAt = now + ttlMs;
      return true;
    },

    async releaseLock(key, owner, token) {
      const now = begin();
      const lock = liveLock(key, now);
      if (!lock || lock.owner !== owner || lock.token !== token) return false;
      locks.delete(key);
      return true;
    },

    async acquireSlot(key, holder, limit, ttlMs) {
      checkArgs.ttl(ttlMs);
      checkArgs.limit(limit);
      const now = begin();
      const holders = liveHolders(key, now) ?? new Map<string, number>();
      if (!holders.has(holder) && holders.size >= limit) return false;
      holders.set(holder, now + ttlMs);
      slots.set(key, holders);
      return true;
    },

    async releaseSlot(key, holder) {
      const now = begin();
      liveHolders(key, now)?.delete(holder);
      liveHolders(key, now); // drops the key when it was the last holder
    },

    async slotCount(key) {
      return liveHolders(key, begin())?.size ?? 0;
    },

    async increment(key, by, windowMs) {
      checkArgs.increment(by);
      checkArgs.window(windowMs);
      const now = begin();
      const window = Math.floor(now / windowMs);
      const id = `${windowMs}:${key}`;
      const entry = counters.get(id);
      if (entry && entry.window === window) {
        entry.count += by;
        return entry.count;
      }
      counters.set(id, { window, count: by, expiresAt: (window + 1) * windowMs });
      return by;
    },

    async count(key, windowMs) {
      checkArgs.window(windowMs);
      const now = begin();
      const entry = counters.get(`${windowMs}:${key}`);
      return entry && entry.window === Math.floor(now / windowMs) ? entry.count : 0;
    },

    async take(key, bucket): Promise<TakeResult> {
      const { rate, burst, cost } = checkArgs.bucket(bucket);
      const now = begin();
      const state = buckets.get(key);
      // A bucket not seen (or idle long enough to have refilled and been dropped) is full.
      const tokens = state ? Math.min(burst, state.tokens + ((now - state.at) * rate) / 1000) : burst;
      const ok = tokens >= cost;
      const left = ok ? tokens - cost : tokens;
      // Once full again the state carries no information: forget it then.
      buckets.set(key, { tokens: left, at: now, expiresAt: now + Math.ceil(((burst - left) * 1000) / rate) });
      return { ok, waitMs: ok ? 0 : Math.ceil(((cost - tokens) * 1000) / rate) };
    },

    async setFlag(key, value, ttlMs) {
      checkArgs.ttl(ttlMs);
      const now = begin();
      flags.set(key, { value, expiresAt: now + ttlMs });
    },

    async getFlag(key) {
      return liveFlag(key, begin())?.value;
    },

    async listFlags(prefix): Promise<FlagEntry[]> {
      const now = begin();
      const out: FlagEntry[] = [];
      for (const key of flags.keys()) {
        if (!key.startsWith(prefix)) continue;
        const flag = liveFlag(key, now);
        if (flag) out.push({ key, value: flag.value, expiresAt: flag.expiresAt });
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async clearFlag(key) {
      begin();
      flags.delete(key);
    },

    unhealthyReason() {
      return closed ? "coordinator is closed" : undefined;
    },

    async close() {
      closed = true;
    },
  };
}
