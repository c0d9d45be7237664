// Opens the backends the config names — queue, body store, coordinator — behind their ports. The only place that
// knows which adapters exist: the relay, the API server and the Lambda handler all start from here.
import { resolve } from "node:path";
import type { Config } from "../config/schema.ts";
import { bodiesBackend } from "../config/schema.ts";
import type { BodyStore } from "../ports/body-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { Coordinator } from "../ports/coordinator.ts";
import type { Queue } from "../ports/queue.ts";
import type { QueueOps } from "../ports/queue-ops.ts";

export interface Backends {
  queue: Queue;
  bodyStore: BodyStore;
  coordinator: Coordinator;
  /** Queue operations (list, retry, hold, delete, flush, audit), when the queue backend offers them. */
  ops?: QueueOps;
  /** Closes every adapter and the clients they share. */
  close(): Promise<void>;
}

/** Connections shared by adapters of one kind. */
interface Shared {
  closers: (() => Promise<void>)[];
}

export async function openBackends(config: Readonly<Config>, clock: Clock): Promise<Backends> {
  const shared: Shared = { closers: [] };
  const opened: { close(): Promise<void> }[] = [];
  try {
    const bodyStore = await openBodyStore(config, shared);
    opened.push(bodyStore);
    const queue = await openQueue(config, clock, shared);
    opened.push(queue);
    const coordinator = await openCoordinator(config, clock);
    opened.push(coordinator);
    const ops = (queue as Queue & { ops?: QueueOps }).ops;
    return {
      queue,
      bodyStore,
      coordinator,
      ...(ops ? { ops } : {}),
      async close() {
        await closeAll(opened, shared);
      },
    };
  } catch (err) {
    await closeAll(opened, shared);
    throw err;
  }
}

async function closeAll(opened: { close(): Promise<void> }[], shared: Shared) {
  for (const item of opened.reverse()) await item.close().catch(() => {});
  for (const close of shared.closers.reverse()) await close().catch(() => {});
}

async function openBodyStore(config: Readonly<Config>, shared: Shared): Promise<BodyStore> {
  switch (bodiesBackend(config.queue)) {
    case "fs": {
      const { createFsBodyStore } = await import("./body-store/fs.ts");
      return createFsBodyStore({ dir: resolve(config.queue.spoolDir) });
    }
    case "gridfs":
    case "s3":
      throw new Error(`body store ${bodiesBackend(config.queue)} is not available in this build`);
  }
}

async function openQueue(config: Readonly<Config>, clock: Clock, shared: Shared): Promise<Queue> {
  switch (config.queue.backend) {
    case "local": {
      const { createLocalQueue } = await import("./queue/local.ts");
      return createLocalQueue({ path: resolve(config.queue.dbPath), clock });
    }
    case "mongo":
    case "sqs":
      throw new Error(`queue backend ${config.queue.backend} is not available in this build`);
  }
}

async function openCoordinator(config: Readonly<Config>, clock: Clock): Promise<Coordinator> {
  if (config.dbs.redis) {
    const { createRedisCoordinator } = await import("./coordinator/redis.ts");
    return createRedisCoordinator({ url: config.dbs.redis, prefix: config.dbs.redisPrefix });
  }
  const { createMemoryCoordinator } = await import("./coordinator/memory.ts");
  return createMemoryCoordinator({ clock });
}
