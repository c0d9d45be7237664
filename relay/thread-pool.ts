// Gives the event loop's thread the first claim on a core. Every message waits for that one thread (SMTP in and
// out, the body's checks and hashes); libuv's thread pool (the body log's durable writes, DKIM's RSA signatures)
// does work that can wait a few milliseconds. On a busy machine the event loop otherwise waits in the run queue
// while the pool holds a core (issue 9). Raising the pool threads' nice value needs no privilege.
//
// Only the pool: V8's own helper threads (concurrent marking and sweeping, which free memory, ArrayBuffers included)
// keep their priority. Lowered too, they fell behind on a loaded machine and a 100 MB stream's peak RSS grew past
// its bound (test/e2e/hostile-input.test.ts).
import { readlink } from "node:fs/promises";
import { setPriority } from "node:os";

/** Rounds of concurrent asks; each round usually reaches every pool thread. */
const MAX_ROUNDS = 20;
const ASKS_PER_ROUND = 64;

/**
 * The thread ids of libuv's pool: a readlink of /proc/thread-self runs on a pool thread and names that thread.
 * Asked until `size` distinct ids answered (or the rounds run out). Empty where there is no /proc.
 */
async function poolThreadIds(size = poolSize()): Promise<Set<number>> {
  const ids = new Set<number>();
  for (let round = 0; round < MAX_ROUNDS && ids.size < size; round++) {
    const links = await Promise.all(
      Array.from({ length: ASKS_PER_ROUND }, () => readlink("/proc/thread-self").catch(() => "")),
    );
    for (const link of links) {
      const tid = /\/task\/(\d+)$/.exec(link)?.[1];
      if (tid) ids.add(Number(tid));
    }
    if (ids.size === 0) break; // no /proc/thread-self here
  }
  return ids;
}

/** libuv's pool size: UV_THREADPOOL_SIZE when set (1-1024), else 4. */
function poolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 1024) : 4;
}

/** Sets libuv's pool threads to `nice` (Linux only; elsewhere, or with 0, nothing). Returns the threads lowered. */
export async function lowerPoolThreads(nice: number): Promise<number[]> {
  if (process.platform !== "linux" || !(nice > 0)) return [];
  const lowered: number[] = [];
  for (const tid of await poolThreadIds()) {
    try {
      setPriority(tid, nice);
      lowered.push(tid);
    } catch {
      // gone meanwhile
    }
  }
  return lowered;
}
