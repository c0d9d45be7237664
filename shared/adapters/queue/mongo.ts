// Queue on MongoDB (the cluster mode): ZoneMTA's `zone-queue` of per-recipient deliveries, leased by any number
// of hosts. Works on MongoDB and on FerretDB v1, so it needs no transactions and no atomic read-modify-write:
// see docs/backends.md ("MongoDB") for the algorithm and why.
import {
  type Db,
  MongoError,
  MongoErrorLabel,
  MongoNetworkError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
  type WriteConcernSettings,
} from "mongodb";
import type { Attempt, DeliveryState, LeasedDelivery } from "../../domain/envelope.ts";
import { type Clock, systemClock } from "../../ports/clock.ts";
import type { Queue } from "../../ports/queue.ts";
import type { QueueOps } from "../../ports/queue-ops.ts";
import { type Change, fencedWriter } from "./mongo-fences.ts";
import { createMongoQueueOps } from "./mongo-ops.ts";
import {
  type AuditDoc,
  type DeliveryDoc,
  defined,
  type FenceDoc,
  type MessageDoc,
  MONGO_QUEUE_INDEXES,
  mongoQueueCollections,
  monotonicKeys,
  toDelivery,
  toMessage,
  toMessageDoc,
} from "./mongo-schema.ts";

const OPEN: DeliveryState[] = ["queued", "deferred"];
/** After a connection failure, report unhealthy for this long (or until an operation succeeds again). */
const SICK_AFTER_ERROR_MS = 30_000;
/** Staged deliveries of a committed message are made visible by the sweep after this long (their enqueue died)… */
const ROLL_FORWARD_AFTER_MS = 60_000;
/** …and staged deliveries without a message are removed after this long; an enqueue gives up at half of it. */
const STAGED_MAX_MS = 10 * 60_000;
const SWEEP_EVERY_MS = 60_000;
const SWEEP_BATCH = 1_000;
/** Rounds of renew/complete/release/cancel when a concurrent change took a delivery's version first. */
const SETTLE_ROUNDS = 8;
/** Lease rounds: losing candidates to competing hosts is normal; a few more rounds look past them. */
const LEASE_ROUNDS = 4;

export interface MongoQueueOptions {
  db: Db;
  /**
   * Deliveries collection; messages, fences and the operators' audit trail live in `<collection>-messages`,
   * `<collection>-fences` and `<collection>-audit`.
   */
  collection?: string;
  clock?: Clock;
  /** Default majority + journal: an enqueue is acknowledged only once it survives the loss of the primary. */
  writeConcern?: WriteConcernSettings;
  /**
   * This instance's id. When set, the deliveries it defers are pinned to it (as ZoneMTA does): other instances
   * with an instanceId leave them alone until `pinGraceMs` after they are due, so a dead instance's work still
   * returns. A handle without an instanceId ignores pins.
   */
  instanceId?: string;
  pinGraceMs?: number;
}

export interface MongoQueue extends Queue {
  /** Finishes or removes what enqueues that died mid-way left staged; runs at startup and with garbage collection. */
  sweep(now?: number): Promise<{ rolledForward: number; removed: number }>;
  /** Queue operations (shared/ports/queue-ops.ts), through the same version fences as everything else. */
  ops: QueueOps;
}

function isConnectionError(err: unknown): boolean {
  return (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoWriteConcernError ||
    // a bulk write (insertMany, bulkWrite) wraps the network error but keeps its labels
    (err instanceof MongoError && err.hasErrorLabel(MongoErrorLabel.ResetPool))
  );
}
const isDuplicateKey = (err: unknown) => (err as { code?: number }).code === 11000;

export async function createMongoQueue(options: MongoQueueOptions): Promise<MongoQueue> {
  const clock = options.clock ?? systemClock;
  const writeConcern = options.writeConcern ?? { w: "majority", j: true };
  const names = mongoQueueCollections(options.collection ?? "zone-queue");
  const deliveries = options.db.collection<DeliveryDoc>(names.deliveries, { writeConcern });
  const messages = options.db.collection<MessageDoc>(names.messages, { writeConcern });
  const fences = options.db.collection<FenceDoc>(names.fences, { writeConcern });
  const audit = options.db.collection<AuditDoc>(names.audit, { writeConcern });
  const nextKey = monotonicKeys(clock);
  const { instanceId } = options;
  const pinGraceMs = options.pinGraceMs ?? 5 * 60_000;
  let sickUntil = 0;
  let sickReason = "";
  let lastSweep = 0;
  const apply = fencedWriter(deliveries, fences, clock);

  function noteError(err: unknown) {
    if (!isConnectionError(err)) return;
    sickUntil = Date.now() + SICK_AFTER_ERROR_MS;
    sickReason = `mongo queue ${options.db.databaseName}/${names.deliveries}: ${(err as Error).message}`;
  }
  /** Runs one operation, remembering whether the database could be reached so intake can refuse quickly. */
  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      sickUntil = 0;
      return result;
    } catch (err) {
      noteError(err);
      throw err;
    }
  }

  /** The message currently holding an idempotency key (the highest claim number), if any. */
  const keyHolder = (key: string) =>
    messages.find({ idempotencyKey: key }).sort({ idempotencyGen: -1 }).limit(1).next();

  // Never sees a held delivery: an operator's change (mongo-ops.ts) claims the version and unstages what it holds.
  const makeVisible = (docs: DeliveryDoc[], op: string) =>
    apply(
      op,
      docs.map((doc): Change => ({ doc, set: { dueAt: doc.nextAttemptAt }, unset: ["staged"] })),
    );

  /**
   * Applies `decide` to the deliveries `read` returns; where another change took a version first (the same owner
   * renewing while it completes, say), reads those again and decides anew, so losing a race to a harmless change
   * never turns into a wrong answer.
   */
  async function settle(
    op: string,
    read: (only?: { _id: { $in: string[] } }) => Promise<DeliveryDoc[]>,
    decide: (doc: DeliveryDoc) => Omit<Change, "doc"> | undefined,
  ): Promise<DeliveryDoc[]> {
    const done: DeliveryDoc[] = [];
    let only: { _id: { $in: string[] } } | undefined;
    for (let round = 0; round < SETTLE_ROUNDS; round++) {
      const changes = (await read(only)).flatMap((doc) => {
        const change = decide(doc);
        return change ? [{ doc, ...change }] : [];
      });
      if (changes.length === 0) break;
      const won = await apply(op, changes);
      done.push(...won);
      if (won.length === changes.length) break;
      const wonIds = new Set(won.map((d) => d._id));
      only = { _id: { $in: changes.filter((c) => !wonIds.has(c.doc._id)).map((c) => c.doc._id) } };
      // the winner may not have written its version yet: give it a moment before reading again
      await new Promise((resolve) => setTimeout(resolve, Math.min(5 * 2 ** round, 100)));
    }
    return done;
  }

  async function sweep(now = clock.now()) {
    lastSweep = clock.now();
    const staged = await deliveries
      .find({ staged: { $lte: now - ROLL_FORWARD_AFTER_MS } })
      .limit(SWEEP_BATCH)
      .toArray();
    if (staged.length === 0) return { rolledForward: 0, removed: 0 };
    const messageIds = [...new Set(staged.map((d) => d.messageId))];
    const committed = new Set(
      (await messages.find({ _id: { $in: messageIds } }, { projection: { _id: 1 } }).toArray()).map((m) => m._id),
    );
    // The message document is the commit point: with it, the enqueue happened and only its last step is missing.
    const rolled = await makeVisible(
      staged.filter((d) => committed.has(d.messageId)),
      "sweep",
    );
    // Without it, nobody was told "queued": the enqueue gave up (or died) and its deliveries go.
    const dead = staged.filter((d) => !committed.has(d.messageId) && (d.staged ?? now) <= now - STAGED_MAX_MS);
    const removed = dead.length
      ? (await deliveries.deleteMany({ _id: { $in: dead.map((d) => d._id) }, staged: { $exists: true } })).deletedCount
      : 0;
    return { rolledForward: rolled.length, removed };
  }

  const pinFilter = (now: number) =>
    instanceId === undefined
      ? {}
      : { $or: [{ pinnedTo: { $exists: false } }, { pinnedTo: instanceId }, { dueAt: { $lte: now - pinGraceMs } }] };

  await guarded(async () => {
    // One index per command: FerretDB v1.24 drops the connection on a createIndexes of several existing indexes.
    for (const [key, indexes] of Object.entries(MONGO_QUEUE_INDEXES)) {
      for (const index of indexes) await options.db.collection(names[key as keyof typeof names]).createIndexes([index]);
    }
    await sweep();
  });

  return {
    enqueue: (message, news, claim) =>
      guarded(async () => {
        const now = clock.now();
        const key = claim && JSON.stringify([claim.scope, claim.key]);
        let gen = 1;
        if (key) {
          const holder = await keyHolder(key);
          if (holder && (holder.idempotencyExpiresAt ?? 0) > now) {
            return { created: false as const, existingMessageId: holder._id };
          }
          gen = (holder?.idempotencyGen ?? 0) + 1;
        }
        // 1. deliveries, staged: stored but invisible to senders (no dueAt)
        const staged = news.map(
          (d, seq): DeliveryDoc => ({
            _id: d.id,
            messageId: message.id,
            seq,
            zone: d.zone,
            domain: d.domain,
            recipient: d.recipient,
            state: "queued",
            attempts: 0,
            nextAttemptAt: d.nextAttemptAt ?? now,
            leaseExpiresAt: 0,
            updatedAt: now,
            history: [],
            gen: 0,
            staged: now,
            arrival: nextKey(),
          }),
        );
        const unstage = () =>
          deliveries
            .deleteMany({ _id: { $in: staged.map((d) => d._id) }, messageId: message.id, staged: now })
            .catch(() => {}); // what a dead connection leaves staged, the sweep removes
        try {
          if (staged.length > 0) await deliveries.insertMany(staged, { ordered: true });
          // 2. the message: the commit point (and, with its (key, gen) unique index, the idempotency claim)
          for (let tries = 0; ; tries++) {
            // Past this, the sweep may already be removing our staged deliveries: committing now could lose them.
            if (clock.now() - now > STAGED_MAX_MS / 2) throw new Error("enqueue took too long to commit; try again");
            try {
              await messages.insertOne({
                ...toMessageDoc(message, news.length),
                ...(key && claim
                  ? { idempotencyKey: key, idempotencyGen: gen, idempotencyExpiresAt: claim.expiresAt }
                  : {}),
              });
              break;
            } catch (err) {
              if (!key || !isDuplicateKey(err) || tries >= 3) throw err;
              // Another enqueue took this claim number first: if its claim is live, it is the answer.
              const holder = await keyHolder(key);
              if (holder && (holder.idempotencyExpiresAt ?? 0) > now) {
                await unstage();
                return { created: false as const, existingMessageId: holder._id };
              }
              gen = (holder?.idempotencyGen ?? 0) + 1;
            }
          }
        } catch (err) {
          await unstage();
          throw err;
        }
        // 3. committed: make the deliveries visible. If this step fails the sweep finishes it, so the message is
        // queued either way and the caller must not retry (it would queue a duplicate).
        await makeVisible(staged, "enqueue").catch((err: unknown) => {
          if (!isConnectionError(err)) throw err;
          noteError(err);
        });
        return { created: true as const };
      }),

    lease: (zone, { owner, limit, leaseMs, now }) =>
      guarded(async () => {
        if (clock.now() - lastSweep >= SWEEP_EVERY_MS) await sweep();
        const until = now + leaseMs;
        const won: DeliveryDoc[] = [];
        const tried: string[] = [];
        for (let round = 0; round < LEASE_ROUNDS && won.length < limit; round++) {
          const candidates = await deliveries
            .find({ zone, dueAt: { $lte: now }, ...pinFilter(now), ...(tried.length ? { _id: { $nin: tried } } : {}) })
            .sort({ dueAt: 1 })
            .limit(limit - won.length)
            .toArray();
          if (candidates.length === 0) break;
          const got = await apply(
            "lease",
            candidates.map((doc) => ({ doc, set: { leaseOwner: owner, leaseExpiresAt: until, dueAt: until } })),
          );
          won.push(...got);
          tried.push(...candidates.map((d) => d._id));
          // all taken: either the limit is reached or nothing more is due
          if (got.length === candidates.length) break;
        }
        if (won.length === 0) return [];
        const ids = [...new Set(won.map((d) => d.messageId))];
        const byId = new Map((await messages.find({ _id: { $in: ids } }).toArray()).map((m) => [m._id, toMessage(m)]));
        return won
          .filter((d) => byId.has(d.messageId)) // always true: a delivery becomes visible only after its message
          .sort((a, b) => a.domain.localeCompare(b.domain) || a.nextAttemptAt - b.nextAttemptAt)
          .map(
            (d): LeasedDelivery => ({
              ...toDelivery(d),
              leaseOwner: owner,
              leaseExpiresAt: until,
              message: byId.get(d.messageId)!,
            }),
          );
      }),

    renew: (ids, owner, until) =>
      guarded(async () => {
        await settle(
          "renew",
          (only) => deliveries.find({ _id: { $in: ids }, leaseOwner: owner, state: { $in: OPEN }, ...only }).toArray(),
          (doc) => (doc.held ? { set: { leaseExpiresAt: until } } : { set: { leaseExpiresAt: until, dueAt: until } }),
        );
      }),

    complete: (id, owner, completion) =>
      guarded(async () => {
        const a = completion.attempt;
        const deferred = completion.outcome === "deferred";
        const entry = defined({
          at: a.at,
          durationMs: a.durationMs,
          outcome: a.outcome,
          response: a.response,
          category: a.category,
          localAddress: a.localAddress,
          mx: a.mx,
          tls: a.tls,
          tlsPolicy: a.tlsPolicy,
          tlsVersion: a.tlsVersion,
          tlsCipher: a.tlsCipher,
        });
        const done = await settle(
          "complete",
          () => deliveries.find({ _id: id }).toArray(),
          (doc) => {
            // only the lease owner completes, and only once (a duplicate finds the delivery final)
            if (doc.leaseOwner !== owner || !OPEN.includes(doc.state)) return undefined;
            const now = clock.now();
            const next = completion.outcome === "deferred" ? completion.nextAttemptAt : now;
            const set: Partial<DeliveryDoc> = {
              state: completion.outcome,
              attempts: doc.attempts + 1,
              nextAttemptAt: next,
              leaseExpiresAt: 0,
              lastResponse: a.response,
              updatedAt: now,
            };
            const unset: (keyof DeliveryDoc)[] = ["leaseOwner"];
            if (deferred) {
              // an attempt in flight when an operator held the delivery finishes; the delivery stays held
              if (doc.held) unset.push("dueAt");
              else set.dueAt = next;
              if (instanceId !== undefined) set.pinnedTo = instanceId;
              else unset.push("pinnedTo");
            } else {
              set.collect = true;
              unset.push("dueAt", "pinnedTo", "held");
            }
            return { set, unset, push: entry };
          },
        );
        return done.length === 1;
      }),

    release: (owner) =>
      guarded(async () => {
        const released = await settle(
          "release",
          (only) => deliveries.find({ leaseOwner: owner, state: { $in: OPEN }, ...only }).toArray(),
          (doc) =>
            doc.held
              ? { set: { leaseExpiresAt: 0 }, unset: ["leaseOwner"] }
              : { set: { leaseExpiresAt: 0, dueAt: doc.nextAttemptAt }, unset: ["leaseOwner"] },
        );
        return released.length;
      }),

    cancel: (messageId, now) =>
      guarded(async () => {
        // Deliveries of a message that is not committed (yet, or ever) are not queued: nothing to cancel.
        if (!(await messages.findOne({ _id: messageId }, { projection: { _id: 1 } }))) return 0;
        const cancelled = await settle(
          "cancel",
          (only) => deliveries.find({ messageId, state: { $in: OPEN }, ...only }).toArray(),
          () => ({
            set: { state: "cancelled", leaseExpiresAt: 0, lastResponse: "cancelled", updatedAt: now, collect: true },
            unset: ["dueAt", "leaseOwner", "pinnedTo", "staged", "held"],
          }),
        );
        return cancelled.length;
      }),

    getMessage: (messageId) =>
      guarded(async () => {
        const m = await messages.findOne({ _id: messageId });
        if (!m) return undefined;
        const ds = await deliveries.find({ messageId }).sort({ seq: 1 }).toArray();
        return {
          message: toMessage(m),
          deliveries: ds.map((d) => ({
            ...toDelivery(d),
            history: d.history.map((h): Attempt => ({ deliveryId: d._id, ...h })),
          })),
        };
      }),

    nextDueAt: (zone) =>
      guarded(async () => {
        const earliest = (filter: object) =>
          deliveries
            .find({ zone, dueAt: { $gte: 0 }, ...filter }, { projection: { dueAt: 1 } })
            .sort({ dueAt: 1 })
            .limit(1)
            .next();
        if (instanceId === undefined) return (await earliest({}))?.dueAt;
        const mine = await earliest({ $or: [{ pinnedTo: { $exists: false } }, { pinnedTo: instanceId }] });
        const others = await earliest({ pinnedTo: { $exists: true, $ne: instanceId } });
        const times = [mine?.dueAt, others?.dueAt === undefined ? undefined : others.dueAt + pinGraceMs];
        const known = times.filter((t): t is number => t !== undefined);
        return known.length ? Math.min(...known) : undefined;
      }),

    finishedMessages: (limit) =>
      guarded(async () => {
        if (clock.now() - lastSweep >= SWEEP_EVERY_MS) await sweep();
        const found: { id: string; bodyId: string }[] = [];
        const seen = new Set<string>();
        let batch: string[] = [];
        const check = async () => {
          const open = new Set(
            await deliveries.distinct("messageId", { messageId: { $in: batch }, state: { $in: OPEN } }),
          );
          const done = batch.filter((id) => !open.has(id));
          batch = [];
          for (const m of await messages.find({ _id: { $in: done } }).toArray()) {
            // body already released (a markBodyRemoved that stopped half-way): finish clearing the flags
            if (m.bodyRemoved)
              await deliveries.updateMany({ messageId: m._id, collect: true }, { $unset: { collect: "" } });
            else if (found.length < limit) found.push({ id: m._id, bodyId: m.bodyId });
          }
        };
        const cursor = deliveries.find({ collect: true }, { projection: { messageId: 1 } }).batchSize(500);
        try {
          for await (const d of cursor) {
            if (seen.has(d.messageId)) continue;
            seen.add(d.messageId);
            batch.push(d.messageId);
            if (batch.length >= 100) await check();
            if (found.length >= limit) break;
          }
          if (batch.length && found.length < limit) await check();
        } finally {
          await cursor.close();
        }
        return found;
      }),

    markBodyRemoved: (messageId) =>
      guarded(async () => {
        // In this order: a stop half-way leaves the message flagged, and finishedMessages finishes the rest.
        await messages.updateOne({ _id: messageId }, { $set: { bodyRemoved: true } });
        await deliveries.updateMany({ messageId, collect: true }, { $unset: { collect: "" } });
        // Every delivery is final and will not change again: their version fences are no longer needed.
        await fences.deleteMany({ messageId });
      }),

    hasBody: (bodyId) =>
      guarded(
        async () => (await messages.findOne({ bodyId, bodyRemoved: false }, { projection: { _id: 1 } })) !== null,
      ),

    unhealthyReason: () => (Date.now() < sickUntil ? sickReason : undefined),

    sweep: (now) => guarded(() => sweep(now)),

    ops: createMongoQueueOps({ deliveries, messages, audit, clock, nextKey, guarded, settle }),

    // The MongoClient belongs to the caller (it is shared with the body store), so there is nothing to close here.
    close: async () => {},
  };
}
