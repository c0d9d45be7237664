// Opens the backends the config names — queue, body store, coordinator — behind their ports. The only place that
// knows which adapters exist: the relay, the API server and the Lambda handler all start from here.
import { dirname, join, resolve } from "node:path";
import type { Config } from "../config/schema.ts";
import { bodiesBackend } from "../config/schema.ts";
import type { BodyStore } from "../ports/body-store.ts";
import { type Clock, systemClock } from "../ports/clock.ts";
import type { Coordinator } from "../ports/coordinator.ts";
import type { Queue } from "../ports/queue.ts";
import type { QueueOps } from "../ports/queue-ops.ts";
import type { UploadStore } from "../ports/upload-store.ts";

export interface Backends {
  queue: Queue;
  bodyStore: BodyStore;
  coordinator: Coordinator;
  /** Queue operations (list, retry, hold, delete, flush, audit), when the queue backend offers them. */
  ops?: QueueOps;
  /** Staged uploads (`POST /v1/uploads`), unless `uploads.enabled` is false. */
  uploads?: UploadStore;
  /** Closes every adapter and the clients they share. */
  close(): Promise<void>;
}

/** Connections shared by adapters of one kind (one MongoClient for queue and GridFS, one S3 client). */
interface Shared {
  closers: (() => Promise<void>)[];
  mongo?: Promise<import("mongodb").Db>;
  s3?: import("@aws-sdk/client-s3").S3Client;
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
    const uploads = config.uploads.enabled ? await openUploads(config, clock, shared) : undefined;
    if (uploads) opened.push(uploads);
    return {
      queue,
      bodyStore,
      coordinator,
      ...(ops ? { ops } : {}),
      ...(uploads ? { uploads } : {}),
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
    case "gridfs": {
      const { createGridFsBodyStore } = await import("./body-store/gridfs.ts");
      return createGridFsBodyStore({ db: await mongoDb(config, shared), bucket: config.queue.gfs });
    }
    case "s3": {
      const { createS3BodyStore } = await import("./body-store/s3.ts");
      return createS3BodyStore({
        client: await s3Client(config, shared),
        bucket: config.aws.bucket!,
        prefix: config.aws.prefix,
      });
    }
  }
}

async function openQueue(config: Readonly<Config>, clock: Clock, shared: Shared): Promise<Queue> {
  switch (config.queue.backend) {
    case "local": {
      const path = resolve(config.queue.dbPath);
      // SQLite on a worker thread keeps it off the event loop's thread (local-thread.ts); a test's clock cannot
      // cross to a thread, so a queue on another clock runs in this one.
      if (clock === systemClock) return (await import("./queue/local-thread.ts")).createThreadedLocalQueue({ path });
      const { createLocalQueue } = await import("./queue/local.ts");
      return createLocalQueue({ path, clock });
    }
    case "mongo": {
      const { createMongoQueue } = await import("./queue/mongo.ts");
      return createMongoQueue({
        db: await mongoDb(config, shared),
        collection: config.queue.collection,
        clock,
        ...(config.queue.instanceId ? { instanceId: config.queue.instanceId } : {}),
      });
    }
    case "sqs": {
      const { createSqsQueue } = await import("./queue/sqs.ts");
      const { sqsClientFor } = await import("./aws/clients.ts");
      const endpoint = config.aws.sqsEndpoint ?? config.aws.endpoint;
      const sqs = sqsClientFor({ region: config.aws.region, ...(endpoint ? { endpoint } : {}) });
      shared.closers.push(async () => sqs.destroy());
      return createSqsQueue({
        sqs,
        s3: await s3Client(config, shared),
        statusBucket: config.aws.statusBucket ?? config.aws.bucket!,
        queuePrefix: config.aws.queuePrefix,
        clock,
      });
    }
  }
}

/** Uploads are staged beside the bodies: in the body bucket with s3, else on local disk (gridfs included). */
async function openUploads(config: Readonly<Config>, clock: Clock, shared: Shared): Promise<UploadStore> {
  const { uploads } = config;
  if (bodiesBackend(config.queue) === "s3") {
    const { createS3UploadStore } = await import("./upload-store/s3.ts");
    const { s3ClientFor } = await import("./aws/clients.ts");
    const endpoint = config.aws.s3Endpoint ?? config.aws.endpoint;
    // Presigning is local (no requests), so this client opens no connections of its own.
    const presigner = s3ClientFor({
      region: config.aws.region,
      checksumsWhenRequired: true,
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    });
    shared.closers.push(async () => presigner.destroy());
    return createS3UploadStore({
      client: await s3Client(config, shared),
      presigner,
      bucket: config.aws.bucket!,
      prefix: uploads.prefix,
      ttlMs: uploads.ttl,
      clock,
    });
  }
  const { createFsUploadStore } = await import("./upload-store/fs.ts");
  return createFsUploadStore({
    dir: resolve(uploads.dir ?? join(dirname(resolve(config.queue.spoolDir)), "uploads")),
    ...(uploads.secret ? { secret: uploads.secret } : {}),
    ttlMs: uploads.ttl,
    expireAfterMs: uploads.expireAfter,
    clock,
  });
}

async function openCoordinator(config: Readonly<Config>, clock: Clock): Promise<Coordinator> {
  if (config.dbs.redis) {
    const { createRedisCoordinator } = await import("./coordinator/redis.ts");
    return createRedisCoordinator({ url: config.dbs.redis, prefix: config.dbs.redisPrefix });
  }
  const { createMemoryCoordinator } = await import("./coordinator/memory.ts");
  return createMemoryCoordinator({ clock });
}

function mongoDb(config: Readonly<Config>, shared: Shared): Promise<import("mongodb").Db> {
  shared.mongo ??= (async () => {
    const { MongoClient } = await import("mongodb");
    const client = new MongoClient(config.dbs.mongo!, { serverSelectionTimeoutMS: 10_000 });
    shared.closers.push(() => client.close());
    await client.connect();
    return client.db();
  })();
  return shared.mongo;
}

async function s3Client(config: Readonly<Config>, shared: Shared): Promise<import("@aws-sdk/client-s3").S3Client> {
  if (shared.s3) return shared.s3;
  const { s3ClientFor } = await import("./aws/clients.ts");
  const endpoint = config.aws.s3Endpoint ?? config.aws.endpoint;
  const client = s3ClientFor({ region: config.aws.region, ...(endpoint ? { endpoint, forcePathStyle: true } : {}) });
  shared.s3 = client;
  shared.closers.push(async () => client.destroy());
  return client;
}
