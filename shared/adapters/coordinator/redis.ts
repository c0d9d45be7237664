// Coordinator adapter shared by every host of a cluster: Redis via ioredis, one Lua script per operation.
import { Redis } from "ioredis";
import {
  type Coordinator,
  checkArgs,
  type FlagEntry,
  type LockGrant,
  type TakeResult,
} from "../../ports/coordinator.ts";
import { SCRIPTS } from "./redis-scripts.ts";

export interface RedisCoordinatorOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS. */
  url: string;
  /** Prepended to every key, so several deployments (or tests) can share one Redis. Default `zr:`. */
  prefix?: string;
  /** How long the factory waits for the first connection before it rejects. Default 5000. */
  connectTimeoutMs?: number;
  /** A command with no reply after this long rejects (a hung or partitioned server). Default 2000. */
  commandTimeoutMs?: number;
  /** Upper bound of the delay between reconnection attempts. Default 1000. */
  maxReconnectDelayMs?: number;
}

type Arg = string | number;
type ScriptCommands = { [name in keyof typeof SCRIPTS]: (...args: Arg[]) => Promise<unknown> };

/**
 * Connects and resolves once Redis answers; rejects if it cannot within `connectTimeoutMs` (a wrong URL should fail
 * the start loudly). Afterwards it reconnects forever with capped back-off. While disconnected, `unhealthyReason`
 * says so and every operation rejects at once (no offline queue; a command in flight when the connection drops
 * rejects too) — the caller treats that as a temporary failure. Scripts are sent by EVALSHA with a fallback to
 * EVAL, so a restarted (empty) server needs nothing special.
 */
export async function createRedisCoordinator(options: RedisCoordinatorOptions): Promise<Coordinator> {
  const prefix = options.prefix ?? "zr:";
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const maxDelay = options.maxReconnectDelayMs ?? 1000;
  const client = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    connectTimeout: Math.min(connectTimeoutMs, 10_000),
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
  });
  let lastError: string | undefined;
  let closed = false;
  client.on("error", (err: Error) => {
    lastError = err.message;
  });
  client.on("ready", () => {
    lastError = undefined;
  });
  for (const [name, script] of Object.entries(SCRIPTS)) {
    client.defineCommand(name, { numberOfKeys: script.keys, lua: script.lua });
  }
  const scripts = client as unknown as ScriptCommands;
  // A hung or partitioned server keeps the socket open, so ioredis still says "ready": remember that the last
  // command timed out and report it until a command succeeds again.
  let timedOut: string | undefined;
  const run = Object.fromEntries(
    Object.keys(SCRIPTS).map((name) => [
      name,
      (...args: Arg[]) => guard(() => scripts[name as keyof ScriptCommands](...args)),
    ]),
  ) as ScriptCommands;
  async function guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      const result = await op();
      timedOut = undefined;
      return result;
    } catch (err) {
      if (err instanceof Error && /timed out/i.test(err.message)) timedOut = err.message;
      throw err;
    }
  }

  await connect(client, connectTimeoutMs, options.url, () => lastError);

  const k = {
    lock: (key: string) => `${prefix}lock:${key}`,
    lockSeq: (key: string) => `${prefix}lockseq:${key}`,
    slots: (key: string) => `${prefix}slots:${key}`,
    counter: (key: string, windowMs: number) => `${prefix}count:${windowMs}:${key}`,
    bucket: (key: string) => `${prefix}bucket:${key}`,
    flags: [`${prefix}flags:exp`, `${prefix}flags:val`, `${prefix}flags:keys`] as const,
  };

  return {
    async acquire(key, owner, ttlMs): Promise<LockGrant | undefined> {
      checkArgs.ttl(ttlMs);
      const token = await run.zrAcquire(k.lock(key), k.lockSeq(key), owner, ttlMs);
      return token === null ? undefined : { token: Number(token) };
    },

    async renew(key, owner, token, ttlMs) {
      checkArgs.ttl(ttlMs);
      return (await run.zrRenew(k.lock(key), owner, String(token), ttlMs)) === 1;
    },

    async releaseLock(key, owner, token) {
      return (await run.zrReleaseLock(k.lock(key), owner, String(token))) === 1;
    },

    async acquireSlot(key, holder, limit, ttlMs) {
      checkArgs.ttl(ttlMs);
      checkArgs.limit(limit);
      return (await run.zrAcquireSlot(k.slots(key), holder, limit, ttlMs)) === 1;
    },

    async releaseSlot(key, holder) {
      await guard(() => client.zrem(k.slots(key), holder));
    },

    async slotCount(key) {
      return Number(await run.zrSlotCount(k.slots(key)));
    },

    async increment(key, by, windowMs) {
      checkArgs.increment(by);
      checkArgs.window(windowMs);
      return Number(await run.zrIncrement(k.counter(key, windowMs), by, windowMs));
    },

    async count(key, windowMs) {
      checkArgs.window(windowMs);
      return Number(await run.zrCount(k.counter(key, windowMs), windowMs));
    },

    async take(key, bucket): Promise<TakeResult> {
      const { rate, burst, cost } = checkArgs.bucket(bucket);
      // Numbers as strings with full precision: Lua's tonumber reads them back exactly.
      const [ok, waitMs] = (await run.zrTake(k.bucket(key), String(rate), String(burst), String(cost))) as [
        number,
        number,
      ];
      return { ok: ok === 1, waitMs };
    },

    async setFlag(key, value, ttlMs) {
      checkArgs.ttl(ttlMs);
      await run.zrSetFlag(...k.flags, key, value, ttlMs);
    },

    async getFlag(key) {
      const value = await run.zrGetFlag(k.flags[0], k.flags[1], key);
      return value === null ? undefined : String(value);
    },

    async listFlags(prefixOfKeys): Promise<FlagEntry[]> {
      const flat = (await run.zrListFlags(...k.flags, prefixOfKeys)) as string[];
      const out: FlagEntry[] = [];
      for (let i = 0; i + 2 < flat.length; i += 3) {
        out.push({ key: flat[i]!, value: flat[i + 1]!, expiresAt: Number(flat[i + 2]) });
      }
      return out;
    },

    async clearFlag(key) {
      await run.zrClearFlag(...k.flags, key);
    },

    unhealthyReason() {
      if (closed) return "coordinator is closed";
      if (client.status !== "ready") return `redis ${client.status}${lastError ? `: ${lastError}` : ""}`;
      return timedOut && `redis not answering: ${timedOut}`;
    },

    async close() {
      if (closed) return;
      closed = true;
      try {
        await client.quit();
      } catch {
        // Not connected (or the server hung): nothing to say goodbye to.
      }
      client.disconnect();
    },
  };
}

async function connect(client: Redis, timeoutMs: number, url: string, lastError: () => string | undefined) {
  let timer: NodeJS.Timeout | undefined;
  const ready = new Promise<void>((resolve) => client.once("ready", resolve));
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const why = lastError() ?? "no answer";
      reject(new Error(`coordinator: Redis at ${redactUrl(url)} not reachable within ${timeoutMs} ms (${why})`));
    }, timeoutMs);
  });
  // connect() rejects on the first failed attempt, but retryStrategy keeps trying: wait for "ready" instead.
  client.connect().catch(() => {});
  try {
    await Promise.race([ready, timeout]);
  } catch (err) {
    client.disconnect();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
