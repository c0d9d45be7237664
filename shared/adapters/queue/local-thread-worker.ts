// The worker thread of the threaded local queue (local-thread.ts): owns the SQLite queue and runs the calls it is sent.
import { parentPort, workerData } from "node:worker_threads";
import { createLocalQueue, type LocalQueue } from "./local.ts";
import type { CallBatch, Reply, WireError } from "./local-thread-protocol.ts";

const port = parentPort!;
let queue: LocalQueue;
try {
  queue = createLocalQueue({ path: (workerData as { path: string }).path });
} catch (err) {
  port.postMessage({ fatal: toWire(err) });
  process.exit(1);
}
port.postMessage({ ready: true });

/** Withdraw functions of the main thread's handOff calls, by the handle it chose. */
const withdraws = new Map<number, () => void>();
let outbox: Reply[] = [];
let lastHealth: string | undefined;

// Replies settled in one turn go back in one message (a message wakes the other thread: that is what costs).
function reply(r: Reply) {
  outbox.push(r);
  if (outbox.length === 1) setImmediate(flush);
}
function flush() {
  const health = queue.unhealthyReason();
  const batch = outbox;
  outbox = [];
  port.postMessage({ replies: batch, ...(health === lastHealth ? {} : { health: health ?? null }) });
  lastHealth = health;
}

port.on("message", ({ calls }: CallBatch) => {
  for (const [id, method, args] of calls) {
    if (method === "handOff") {
      const [handle, zone, offer] = args as [number, string, { owner: string; leaseMs: number; max: number }];
      withdraws.set(handle, queue.handOff!(zone, offer));
      continue;
    }
    if (method === "withdraw") {
      const handle = args[0] as number;
      withdraws.get(handle)?.();
      withdraws.delete(handle);
      continue;
    }
    let result: Promise<unknown>;
    try {
      const [owner, name] = method.startsWith("ops.") ? [queue.ops, method.slice(4)] : [queue, method];
      const fn = (owner as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
      if (typeof fn !== "function") throw new Error(`local queue has no method ${method}`);
      result = Promise.resolve(fn.apply(owner, args));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (value) => reply([id, true, value]),
      (err) => reply([id, false, toWire(err)]),
    );
  }
});

function toWire(err: unknown): WireError {
  const e = err as NodeJS.ErrnoException;
  return {
    name: e?.name ?? "Error",
    message: e?.message ?? String(err),
    ...(typeof e?.code === "string" ? { code: e.code } : {}),
  };
}
