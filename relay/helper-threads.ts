// Gives the event loop's thread the first claim on a core. Every message waits for that one thread (SMTP in and
// out, the body's checks and hashes); the process's other threads — libuv's pool (file writes, fsync, DKIM's RSA),
// V8's garbage-collection helpers, the queue's worker — do work that can wait a few milliseconds. On a busy machine
// the event loop otherwise waits in the run queue while they hold both cores (issue 9: a quarter of the time at
// 100 KB on 2 cores). Raising their nice value needs no privilege; the event loop's thread keeps its own.
import { readdirSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

const TASKS = "/proc/self/task";

/**
 * Sets every thread of this process but the calling main thread to at least `nice` (Linux only; elsewhere, or with
 * 0, nothing). Returns how many threads it lowered. Call from the main thread: on Linux its thread id is the pid.
 */
export function lowerHelperThreads(nice: number): number {
  if (process.platform !== "linux" || !(nice > 0)) return 0;
  let tids: string[];
  try {
    tids = readdirSync(TASKS);
  } catch {
    return 0; // no /proc: leave the threads as they are
  }
  let lowered = 0;
  for (const entry of tids) {
    const tid = Number(entry);
    if (tid === process.pid) continue;
    try {
      if (getPriority(tid) >= nice) continue;
      setPriority(tid, nice);
      lowered++;
    } catch {
      // the thread ended between the listing and here
    }
  }
  return lowered;
}

/**
 * Lowers the helper threads now and again every `everyMs`, for those started later (libuv starts its pool on first
 * use, a reload may start workers). Returns a function that stops the timer.
 */
export function keepHelperThreadsLow(nice: number, everyMs = 30_000): () => void {
  if (process.platform !== "linux" || !(nice > 0)) return () => {};
  lowerHelperThreads(nice);
  const timer = setInterval(() => lowerHelperThreads(nice), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
