// The embedded queue in both forms for the contract suites: in this thread, and on a worker thread (what the relay opens).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalQueue, type LocalQueue } from "../../shared/adapters/queue/local.ts";
import { createThreadedLocalQueue } from "../../shared/adapters/queue/local-thread.ts";

/** A queue on a fresh file for each test, removed with it. */
const freshQueue = (open: (path: string) => LocalQueue | Promise<LocalQueue>) => async () => {
  const dir = mkdtempSync(join(tmpdir(), "zr-queue-"));
  const queue = await open(join(dir, "queue.sqlite"));
  return {
    queue,
    ops: queue.ops,
    cleanup: async () => {
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

export const localQueues = {
  "local (SQLite)": freshQueue((path) => createLocalQueue({ path })),
  "local (SQLite on a worker thread)": freshQueue((path) => createThreadedLocalQueue({ path })),
};
