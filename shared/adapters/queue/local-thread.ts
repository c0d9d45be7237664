// The embedded queue with its SQLite work on a worker thread, so the event loop's thread keeps intake and sending.
//
// The relay's busiest part is the event loop's thread; SQLite was ~11% of it at 4 KB (issue 9), while the second
// core had room. This is the local queue (local.ts, unchanged) running in a worker: each method is a call sent
// over a MessagePort, calls of one turn in one message and replies of one turn in one message, so the two
// threads wake each other about once per turn, not per call. Same promises as the local queue (the queue and
// queue-ops contract suites run against both); errors keep their `code` so intake still tells a full disk (452).
import { Worker } from "node:worker_threads";
import type { Queue } from "../../ports/queue.ts";
import type { QueueOps } from "../../ports/queue-ops.ts";
import { bundleWorkerCode } from "../worker-code.ts";
import type { LocalQueue } from "./local.ts";
import { type Call, fromWire, type ReplyBatch } from "./local-thread-protocol.ts";

/** The worker of a threaded queue, for tests that must see what its death does (not part of the Queue port). */
export const QUEUE_WORKER = Symbol("local queue worker");

const OPS_METHODS = ["list", "counts", "retry", "hold", "release", "remove", "flush", "appendAudit", "listAudit"];

export async function createThreadedLocalQueue(options: {
  path: string;
  /** How the worker gets its code: bundled (the default; tsx when bundling fails) or through tsx (tests). */
  workerCode?: "bundle" | "tsx";
}): Promise<LocalQueue> {
  // The main thread's loader hooks do not reach workers: the worker's code is bundled into one script, or, when it
  // cannot be, the worker registers tsx itself (local-thread-worker.mjs).
  const workerData = { path: options.path };
  const bundled =
    options.workerCode === "tsx"
      ? undefined
      : await bundleWorkerCode(new URL("./local-thread-worker.ts", import.meta.url));
  const worker = bundled
    ? new Worker(bundled, { eval: true, workerData })
    : new Worker(new URL("./local-thread-worker.mjs", import.meta.url), { workerData });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let nextId = 1;
  let outbox: Call[] = [];
  let health: string | undefined;
  let gone: Error | undefined;

  const failAll = (err: Error) => {
    gone ??= err;
    health = `local queue: ${err.message}`;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  let opened: ((err?: Error) => void) | undefined;
  const opening = new Promise<void>((resolve, reject) => {
    opened = (err) => (err ? reject(err) : resolve());
  });
  worker.on("message", (m: ReplyBatch) => {
    if (opened) {
      opened(m.fatal ? fromWire(m.fatal) : undefined);
      opened = undefined;
      return;
    }
    if (m.health !== undefined) health = m.health ?? undefined;
    for (const [id, ok, value] of m.replies ?? []) {
      const p = pending.get(id);
      pending.delete(id);
      if (ok) p?.resolve(value);
      else p?.reject(fromWire(value as Parameters<typeof fromWire>[0]));
    }
  });
  worker.on("error", (err) => {
    opened?.(err);
    failAll(err);
  });
  worker.on("exit", (code) => {
    opened?.(new Error(`local queue worker exited (${code}) while opening`));
    failAll(new Error(`worker exited (${code})`));
  });
  await opening;

  const send = (call: Call) => {
    outbox.push(call);
    if (outbox.length === 1) {
      setImmediate(() => {
        const calls = outbox;
        outbox = [];
        if (!gone) worker.postMessage({ calls });
      });
    }
  };
  const call = <T>(method: string, args: unknown[]): Promise<T> => {
    if (gone) return Promise.reject(gone);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      send([id, method, args]);
    });
  };
  const method =
    (name: string) =>
    (...args: unknown[]) =>
      call(name, args);

  let handles = 0;
  const queue = {
    enqueue: method("enqueue"),
    lease: method("lease"),
    renew: method("renew"),
    complete: method("complete"),
    release: method("release"),
    cancel: method("cancel"),
    getMessage: method("getMessage"),
    nextDueAt: method("nextDueAt"),
    finishedMessages: method("finishedMessages"),
    markBodyRemoved: method("markBodyRemoved"),
    hasBody: method("hasBody"),
    handOff(zone: string, offer: { owner: string; leaseMs: number; max: number }) {
      const handle = ++handles;
      send([0, "handOff", [handle, zone, offer]]);
      return () => send([0, "withdraw", [handle]]);
    },
    unhealthyReason: () => health,
    ops: Object.fromEntries(OPS_METHODS.map((name) => [name, method(`ops.${name}`)])) as unknown as QueueOps,
    async close() {
      if (gone) return;
      await call("close", []);
      gone = new Error("local queue is closed");
      await worker.terminate();
    },
  } satisfies Record<keyof Queue | "ops", unknown>;
  return Object.assign(queue, { [QUEUE_WORKER]: worker }) as unknown as LocalQueue;
}
