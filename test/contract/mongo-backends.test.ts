// Behaviour of the MongoDB adapters beyond the contracts: indexes, enqueue atomicity without transactions, version
// fences under competition, instance pinning, and health when the server goes away.
import { randomBytes } from "node:crypto";
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import type { Db } from "mongodb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGridFsBodyStore, gridFsIndexes } from "../../shared/adapters/body-store/gridfs.ts";
import { createMongoQueue } from "../../shared/adapters/queue/mongo.ts";
import {
  type DeliveryDoc,
  type FenceDoc,
  type MessageDoc,
  MONGO_QUEUE_INDEXES,
  mongoQueueCollections,
  toMessageDoc,
} from "../../shared/adapters/queue/mongo-schema.ts";
import type { MessageRecord, NewDelivery } from "../../shared/domain/envelope.ts";
import { toMailError } from "../../shared/errors.ts";
import { connectMongo, freshDatabase, MONGO_URL, type TestDatabase } from "../support/mongo.ts";

const MINUTE = 60_000;
let n = 0;
const uid = (p: string) => `${p}${Date.now().toString(36)}${(n++).toString(36)}${randomBytes(3).toString("hex")}`;

function message(): MessageRecord {
  const id = uid("m");
  return {
    id,
    bodyId: `b${id}`,
    from: "sender@example.test",
    size: 10,
    receivedAt: Date.now(),
    messageIdHeader: `<${id}@example.test>`,
    source: { interface: "api", name: "api" },
  };
}
const recipients = (zone: string, count: number, nextAttemptAt = Date.now()): NewDelivery[] =>
  Array.from({ length: count }, (_, i) => ({
    id: uid("d"),
    zone,
    recipient: `r${i}@one.test`,
    domain: "one.test",
    nextAttemptAt,
  }));
const attempt = (deliveryId: string, outcome: "delivered" | "deferred", response: string) => ({
  deliveryId,
  at: Date.now(),
  durationMs: 5,
  outcome,
  response,
});

/** A staged delivery as an enqueue writes it before its commit point. */
function stagedDoc(messageId: string, zone: string, at: number): DeliveryDoc {
  return {
    _id: uid("d"),
    messageId,
    seq: 0,
    zone,
    domain: "one.test",
    recipient: "a@one.test",
    state: "queued",
    attempts: 0,
    nextAttemptAt: at,
    leaseExpiresAt: 0,
    updatedAt: at,
    history: [],
    gen: 0,
    staged: at,
  };
}
function messageDoc(id: string): MessageDoc {
  return toMessageDoc({ ...message(), id }, 1);
}

describe("MongoDB queue", () => {
  let t: TestDatabase;
  let zone: string;
  const names = mongoQueueCollections("zone-queue");
  beforeEach(async () => {
    t = await freshDatabase("zr_mq");
    zone = uid("zone");
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it("creates every declared index at startup, and starting again is harmless", async () => {
    await createMongoQueue({ db: t.db });
    await createMongoQueue({ db: t.db }); // a second host starting on the same database
    for (const [key, declared] of Object.entries(MONGO_QUEUE_INDEXES)) {
      const existing = await t.db
        .collection(names[key as keyof typeof names])
        .listIndexes()
        .toArray();
      for (const index of declared) {
        expect(existing.find((e) => e.name === index.name)).toMatchObject({
          key: index.key,
          ...(index.unique ? { unique: true } : {}),
        });
      }
    }
  });

  it("keeps a staged delivery without its message invisible, then sweeps it away", async () => {
    const q = await createMongoQueue({ db: t.db });
    const now = Date.now();
    const orphan = stagedDoc("m-never-committed", zone, now - 1_000);
    await t.db.collection<DeliveryDoc>(names.deliveries).insertOne(orphan);
    expect(await q.lease(zone, { owner: "h1", limit: 10, leaseMs: MINUTE, now })).toEqual([]);
    expect(await q.nextDueAt(zone)).toBeUndefined();
    expect(await q.getMessage("m-never-committed")).toBeUndefined();
    // young leftovers may still belong to an enqueue in progress
    expect(await q.sweep(now + 2 * MINUTE)).toEqual({ rolledForward: 0, removed: 0 });
    expect(await q.sweep(now + 11 * MINUTE)).toEqual({ rolledForward: 0, removed: 1 });
    expect(await t.db.collection(names.deliveries).countDocuments({ _id: orphan._id as never })).toBe(0);
  });

  it("rolls a committed message's staged deliveries forward (an enqueue that died after its commit point)", async () => {
    const q = await createMongoQueue({ db: t.db });
    const now = Date.now();
    const doc = stagedDoc("m-committed", zone, now - 1_000);
    await t.db.collection<DeliveryDoc>(names.deliveries).insertOne(doc);
    await t.db.collection<MessageDoc>(names.messages).insertOne(messageDoc("m-committed"));
    expect(await q.lease(zone, { owner: "h1", limit: 10, leaseMs: MINUTE, now })).toEqual([]);
    expect((await q.getMessage("m-committed"))?.deliveries.map((d) => d.state)).toEqual(["queued"]);
    expect(await q.sweep(now + 2 * MINUTE)).toEqual({ rolledForward: 1, removed: 0 });
    const leased = await q.lease(zone, { owner: "h1", limit: 10, leaseMs: MINUTE, now });
    expect(leased.map((d) => [d.id, d.message.id])).toEqual([[doc._id, "m-committed"]]);
  });

  it("keeps every field of the message record, optional ones included", async () => {
    const q = await createMongoQueue({ db: t.db });
    const m: MessageRecord = { ...message(), subject: "Hi", dkimBodyHash: { relaxed: "abc=", simple: "def=" } };
    await q.enqueue(m, recipients(zone, 1));
    expect((await q.getMessage(m.id))?.message).toEqual(m);
    const [d] = await q.lease(zone, { owner: "h1", limit: 1, leaseMs: MINUTE, now: Date.now() });
    expect(d!.message).toEqual(m);
    const plain = message(); // no subject: no `subject: null` either
    await q.enqueue(plain, recipients(zone, 1));
    expect((await q.getMessage(plain.id))?.message).toEqual(plain);
  });

  it("leaves nothing of an enqueue that fails before its commit point", async () => {
    const q = await createMongoQueue({ db: t.db });
    const m = message();
    await q.enqueue(m, recipients(zone, 1));
    const retry = recipients(zone, 2);
    // the same message id again: the commit (message insert) fails, the staged deliveries must go
    await expect(q.enqueue(m, retry)).rejects.toMatchObject({ code: 11000 });
    const ids = retry.map((d) => d.id);
    expect(await t.db.collection<DeliveryDoc>(names.deliveries).countDocuments({ _id: { $in: ids } })).toBe(0);
    expect((await q.getMessage(m.id))?.deliveries).toHaveLength(1);
  });

  it("never hands one delivery to two of many competing hosts", async () => {
    const q = await createMongoQueue({ db: t.db });
    const peer = await createMongoQueue({ db: await t.connectPeer() });
    const all = recipients(zone, 120);
    await q.enqueue(message(), all);
    const seen: string[] = [];
    const deadline = Date.now() + 30_000;
    while (seen.length < all.length && Date.now() < deadline) {
      const batches = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? peer : q).lease(zone, { owner: `host${i}`, limit: 7, leaseMs: MINUTE, now: Date.now() }),
        ),
      );
      for (const batch of batches) seen.push(...batch.map((d) => d.id));
    }
    expect(seen).toHaveLength(all.length);
    expect(new Set(seen).size).toBe(all.length);
  });

  it("completes even when the owner renews the same lease at the same moment", async () => {
    const q = await createMongoQueue({ db: t.db });
    const ds = recipients(zone, 20);
    await q.enqueue(message(), ds);
    const leased = await q.lease(zone, { owner: "h1", limit: 20, leaseMs: MINUTE, now: Date.now() });
    expect(leased).toHaveLength(20);
    const results = await Promise.all(
      leased.map(async (d) => {
        const [done] = await Promise.all([
          q.complete(d.id, "h1", { outcome: "delivered", attempt: attempt(d.id, "delivered", "250 ok") }),
          q.renew([d.id], "h1", Date.now() + 2 * MINUTE),
        ]);
        return done;
      }),
    );
    expect(results).toEqual(leased.map(() => true));
    const states = (await q.getMessage(leased[0]!.message.id))!.deliveries.map((d) => [d.state, d.attempts]);
    expect(states).toEqual(leased.map(() => ["delivered", 1]));
  });

  it("takes over a version whose writer died between its fence and its write, but not a fresh one", async () => {
    const q = await createMongoQueue({ db: t.db });
    const now = Date.now();
    const [stuck, busy] = recipients(zone, 2, now - 1_000);
    await q.enqueue(message(), [stuck!, busy!]);
    const fences = t.db.collection<FenceDoc>(names.fences);
    const gen = async (id: string) => (await t.db.collection<DeliveryDoc>(names.deliveries).findOne({ _id: id }))!.gen;
    // a dead writer claimed the next version of one delivery 2 minutes ago; a live one just now claimed the other's
    await fences.insertOne({
      _id: `${stuck!.id}:${(await gen(stuck!.id)) + 1}`,
      messageId: "x",
      op: "lease",
      at: now - 2 * MINUTE,
    });
    await fences.insertOne({ _id: `${busy!.id}:${(await gen(busy!.id)) + 1}`, messageId: "x", op: "lease", at: now });
    const leased = await q.lease(zone, { owner: "h1", limit: 10, leaseMs: MINUTE, now });
    expect(leased.map((d) => d.id)).toEqual([stuck!.id]);
  });

  it("pins deferred work to the instance that deferred it, until a grace period has passed", async () => {
    const a = await createMongoQueue({ db: t.db, instanceId: "a", pinGraceMs: 5 * MINUTE });
    const b = await createMongoQueue({ db: await t.connectPeer(), instanceId: "b", pinGraceMs: 5 * MINUTE });
    await a.enqueue(message(), recipients(zone, 1));
    const [d] = await a.lease(zone, { owner: "a1", limit: 1, leaseMs: MINUTE, now: Date.now() });
    const retryAt = Date.now() + MINUTE;
    await a.complete(d!.id, "a1", {
      outcome: "deferred",
      nextAttemptAt: retryAt,
      attempt: attempt(d!.id, "deferred", "451 later"),
    });
    expect(await b.nextDueAt(zone)).toBe(retryAt + 5 * MINUTE);
    expect(await a.nextDueAt(zone)).toBe(retryAt);
    expect(await b.lease(zone, { owner: "b1", limit: 1, leaseMs: MINUTE, now: retryAt })).toEqual([]);
    // a dead instance's work comes back: after the grace period any instance takes it
    const late = await b.lease(zone, { owner: "b1", limit: 1, leaseMs: MINUTE, now: retryAt + 5 * MINUTE });
    expect(late.map((x) => x.id)).toEqual([d!.id]);
  });
});

describe("GridFS body store", () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await freshDatabase("zr_gfs");
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it("creates GridFS's indexes at startup", async () => {
    await createGridFsBodyStore({ db: t.db, bucket: "mail" });
    for (const { collection, name, key, ...rest } of gridFsIndexes("mail")) {
      const existing = await t.db.collection(collection).listIndexes().toArray();
      expect(existing.find((e) => e.name === name)).toMatchObject({ key, ...rest });
    }
  });

  it("leaves no chunk and no pending upload behind when the incoming stream fails", async () => {
    const store = await createGridFsBodyStore({ db: t.db });
    const id = uid("b");
    const failing = new Readable({ read() {} });
    const put = store.put(id, failing);
    failing.push(randomBytes(600_000)); // more than two chunks reach the database before the failure
    setTimeout(() => failing.destroy(new Error("client went away")), 200);
    await expect(put).rejects.toThrow(/client went away/);
    expect(await t.db.collection("mail.chunks").countDocuments({ files_id: id })).toBe(0);
    expect(await t.db.collection("mail.pending").countDocuments({})).toBe(0);
  });

  it("refuses to store an id twice and keeps the first body intact", async () => {
    const store = await createGridFsBodyStore({ db: t.db });
    const id = uid("b");
    await store.put(id, Readable.from([Buffer.from("first")]));
    await expect(store.put(id, Readable.from([Buffer.from("second")]))).rejects.toMatchObject({ code: "EEXIST" });
    expect(await text(await store.get(id))).toBe("first");
  });

  it("lists an upload whose process died, and delete removes its chunks", async () => {
    const store = await createGridFsBodyStore({ db: t.db });
    const id = uid("b");
    // what a process killed mid-upload leaves: the pending marker and some chunks, no files document
    await t.db
      .collection<{ _id: string; startedAt: Date }>("mail.pending")
      .insertOne({ _id: id, startedAt: new Date() });
    await t.db.collection("mail.chunks").insertOne({ files_id: id, n: 0, data: Buffer.from("partial") });
    const listed: string[] = [];
    for await (const x of store.list()) listed.push(x);
    expect(listed).toContain(id);
    await expect(store.get(id)).rejects.toMatchObject({ code: "ENOENT" });
    await store.delete(id);
    expect(await t.db.collection("mail.chunks").countDocuments({ files_id: id })).toBe(0);
    expect(await t.db.collection("mail.pending").countDocuments({})).toBe(0);
  });
});

/** A TCP relay to the test server that can be cut, as a network partition or a dead server would. */
async function startRelay(target: URL, port = 0) {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(target.port || 27017), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async cut() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("MongoDB adapters when the server goes away", () => {
  it("fail with a temporary error and report unhealthy, until the server answers again", async () => {
    const t = await freshDatabase("zr_down");
    let relay = await startRelay(new URL(MONGO_URL));
    const client = await connectMongo(`mongodb://127.0.0.1:${relay.port}/`, {
      serverSelectionTimeoutMS: 500,
      heartbeatFrequencyMS: 500,
      directConnection: true,
    });
    const db: Db = client.db(t.name);
    try {
      const queue = await createMongoQueue({ db });
      const store = await createGridFsBodyStore({ db });
      expect(queue.unhealthyReason()).toBeUndefined();
      expect(store.unhealthyReason()).toBeUndefined();

      await relay.cut();
      const enqueueError = await queue.enqueue(message(), recipients("z", 1)).catch((err: unknown) => err);
      expect(enqueueError).toBeInstanceOf(Error);
      expect(toMailError(enqueueError).temporary).toBe(true);
      expect(queue.unhealthyReason()).toMatch(/mongo queue/);
      const putError = await store.put(uid("b"), Readable.from([Buffer.from("x")])).catch((err: unknown) => err);
      expect(toMailError(putError).temporary).toBe(true);
      expect(store.unhealthyReason()).toMatch(/gridfs/);

      relay = await startRelay(new URL(MONGO_URL), relay.port);
      const deadline = Date.now() + 20_000;
      while (
        Date.now() < deadline &&
        (await queue.nextDueAt("z").then(
          () => false,
          () => true,
        ))
      ) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(queue.unhealthyReason()).toBeUndefined();
      await store.put(uid("b"), Readable.from([Buffer.from("x")]));
      expect(store.unhealthyReason()).toBeUndefined();
    } finally {
      await relay.cut().catch(() => {});
      await client.close();
      await t.cleanup();
    }
  });

  it("refuses to start with a temporary error when no server answers", async () => {
    const relay = await startRelay(new URL(MONGO_URL));
    const port = relay.port;
    await relay.cut(); // a port where nothing listens any more
    const { MongoClient } = await import("mongodb");
    const client = new MongoClient(`mongodb://127.0.0.1:${port}/`, { serverSelectionTimeoutMS: 300 });
    try {
      const err = await createMongoQueue({ db: client.db("zr_nowhere") }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe("MongoServerSelectionError");
      expect(toMailError(err).temporary).toBe(true);
      await expect(createGridFsBodyStore({ db: client.db("zr_nowhere") })).rejects.toThrow();
    } finally {
      await client.close();
    }
  });
});
