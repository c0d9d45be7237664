// Port: short-lived state shared by every host — locks, concurrency slots, counters, token buckets and flags.

/** A granted lock. `token` is a fencing token: strictly greater than every earlier token for the same key. */
export interface LockGrant {
  token: number;
}

export interface BucketSpec {
  /** Tokens added per second, continuously (not in steps). */
  rate: number;
  /** Capacity: the most tokens that can be taken at once after an idle period. A new bucket starts full. */
  burst: number;
  /** Tokens this take needs (default 1); at most `burst`. */
  cost?: number;
}

export interface TakeResult {
  ok: boolean;
  /** 0 when ok; otherwise how long until `cost` tokens will exist (if nobody else takes them first). */
  waitMs: number;
}

export interface FlagEntry {
  key: string;
  value: string;
  /** Milliseconds since the epoch, in the coordinator's time. */
  expiresAt: number;
}

/**
 * The coordinator: the state that throttles and serialises work across every host of a cluster (in embedded mode,
 * across the zone workers of one process). Every operation is atomic: concurrent callers, on one host or many,
 * observe some order of whole operations. Nothing here is durable — a restart of the backend may forget it all —
 * so callers use it for throttling and mutual exclusion with timeouts, never for data.
 *
 * Time: every TTL, window and refill is measured by the coordinator's own clock, not the caller's: the memory
 * adapter uses its injected Clock, the Redis adapter the Redis server's `TIME`, so hosts with skewed clocks agree.
 * Expiry times returned (`FlagEntry.expiresAt`) are on that clock.
 *
 * Keys are free-form strings chosen by the caller (e.g. `zone:default|domain:gmail.com`); the five families below
 * have separate namespaces, so a lock and a counter may share a key.
 *
 * - Locks: `acquire` grants the lock when no one holds it (or the holder's TTL has passed) — even to the same owner,
 *   a held lock is not granted twice; holders extend with `renew`. Each grant carries a fencing token strictly
 *   greater than any earlier grant's for that key, also after expiry or release. `renew` and `releaseLock` succeed
 *   only for the current holder (same owner and token, not expired) and return false otherwise.
 * - Slots (semaphores with TTL): `acquireSlot` admits `holder` while fewer than `limit` unexpired holders exist;
 *   a holder that already holds a slot is admitted again and its TTL is refreshed (that is how holders renew).
 *   A holder that crashes loses its slot when the TTL passes. `releaseSlot` is idempotent.
 * - Counters: `increment` adds to the count of the current window of `windowMs` and returns the new count; windows
 *   are aligned to the epoch (a 86 400 000 ms window is a UTC day), each (key, windowMs) pair counts separately and
 *   a window's count is forgotten when it ends. `count` reads the current window without changing it.
 * - Token buckets: `take` removes `cost` tokens if they exist; tokens refill continuously at `rate` per second up
 *   to `burst`. A refused take removes nothing and says in `waitMs` when enough tokens will exist.
 * - Flags: a string value under a key until `ttlMs` passes (setting again replaces value and TTL). `listFlags`
 *   returns the unexpired flags whose key starts with `prefix`, sorted by key.
 * - `unhealthyReason` is cheap and synchronous: a reason while the backend cannot answer. Operations during an
 *   outage reject promptly (never hang); callers treat that as a temporary failure.
 */
export interface Coordinator {
  acquire(key: string, owner: string, ttlMs: number): Promise<LockGrant | undefined>;
  renew(key: string, owner: string, token: number, ttlMs: number): Promise<boolean>;
  releaseLock(key: string, owner: string, token: number): Promise<boolean>;

  acquireSlot(key: string, holder: string, limit: number, ttlMs: number): Promise<boolean>;
  releaseSlot(key: string, holder: string): Promise<void>;
  /** Unexpired holders of the key's slots. */
  slotCount(key: string): Promise<number>;

  increment(key: string, by: number, windowMs: number): Promise<number>;
  count(key: string, windowMs: number): Promise<number>;

  take(key: string, bucket: BucketSpec): Promise<TakeResult>;

  setFlag(key: string, value: string, ttlMs: number): Promise<void>;
  getFlag(key: string): Promise<string | undefined>;
  listFlags(prefix: string): Promise<FlagEntry[]>;
  clearFlag(key: string): Promise<void>;

  unhealthyReason(): string | undefined;
  close(): Promise<void>;
}

/** Argument checks every adapter applies, so a bad throttle config fails the same way (RangeError) everywhere. */
export const checkArgs = {
  ttl(ttlMs: number) {
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0)
      throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
  },
  window(windowMs: number) {
    if (!Number.isSafeInteger(windowMs) || windowMs <= 0) {
      throw new RangeError(`windowMs must be a positive integer, got ${windowMs}`);
    }
  },
  limit(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be an integer ≥ 0, got ${limit}`);
  },
  increment(by: number) {
    if (!Number.isSafeInteger(by)) throw new RangeError(`by must be an integer, got ${by}`);
  },
  bucket({ rate, burst, cost = 1 }: BucketSpec): Required<BucketSpec> {
    if (!Number.isFinite(rate) || rate <= 0) throw new RangeError(`rate must be a positive number, got ${rate}`);
    if (!Number.isFinite(burst) || burst <= 0) throw new RangeError(`burst must be a positive number, got ${burst}`);
    if (!Number.isFinite(cost) || cost <= 0 || cost > burst) {
      throw new RangeError(`cost must be positive and at most burst (${burst}), got ${cost}`);
    }
    return { rate, burst, cost };
  },
};
