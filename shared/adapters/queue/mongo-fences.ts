// Version fences: how the MongoDB queue changes a delivery so that exactly one host wins each change, on MongoDB
// and on FerretDB v1 (whose conditional updates are not atomic: it reads, then rewrites the document by _id).
import { type AnyBulkWriteOperation, type Collection, MongoBulkWriteError } from "mongodb";
import type { Clock } from "../../ports/clock.ts";
import type { DeliveryDoc, FenceDoc } from "./mongo-schema.ts";

/** A fence whose delivery was not rewritten within this time belongs to a writer that died: the next may skip it. */
export const STUCK_FENCE_MS = 60_000;
/** FerretDB v1.24 hangs (and stops answering anyone) on an update command of 100 or more statements. */
const UPDATES_PER_COMMAND = 50;

/** One change of one delivery, decided on `doc` as read (version `doc.gen`). */
export interface Change {
  doc: DeliveryDoc;
  set: Partial<DeliveryDoc>;
  unset?: (keyof DeliveryDoc)[];
  push?: DeliveryDoc["history"][number];
}
interface Claim {
  c: Change;
  from: number;
  to: number;
}

export const fenceId = (deliveryId: string, gen: number) => `${deliveryId}:${gen}`;

/**
 * Returns `apply(op, changes)`, which applies each change only if its delivery is still at the version it was
 * decided on. Every change first inserts the fence `<id>:<gen+1>`: an insert into a unique `_id` has exactly one
 * winner (the one primitive FerretDB v1 makes atomic besides a delete), and only the winner rewrites the delivery,
 * setting `gen` to the new version. A host that read an older version claims a fence that exists already and
 * loses; nobody reads the new version before it is written. So no two hosts ever both lease, complete or cancel
 * one version of a delivery. Fences stay until the message's body is released (markBodyRemoved).
 *
 * If a writer dies between its fence and its write, the delivery would be stuck at the old version: once that
 * fence is STUCK_FENCE_MS old and the delivery still unchanged, the next writer skips it (claims gen+2). A writer
 * that finds itself that late does not write any more.
 */
export function fencedWriter(deliveries: Collection<DeliveryDoc>, fences: Collection<FenceDoc>, clock: Clock) {
  /** Inserts the fences of `claims`; returns the claims whose fence is ours (a duplicate means another won it). */
  async function claimFences(op: string, claims: Claim[], at: number): Promise<Claim[]> {
    if (claims.length === 0) return [];
    const docs = claims.map((x) => ({ _id: fenceId(x.c.doc._id, x.to), messageId: x.c.doc.messageId, op, at }));
    try {
      await fences.insertMany(docs, { ordered: false });
      return claims;
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError) || err.result.getWriteConcernError()) throw err;
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      if (errors.length === 0 || errors.some((e) => e.code !== 11000)) throw err;
      const lost = new Set(errors.map((e) => e.index));
      return claims.filter((_, i) => !lost.has(i));
    }
  }

  /** Lost claims whose fence is old while the delivery is still at the version we read: its writer died. */
  async function takeOverStuck(op: string, lost: Claim[], at: number): Promise<Claim[]> {
    const ids = lost.map((x) => fenceId(x.c.doc._id, x.to));
    const stale = await fences
      .find({ _id: { $in: ids }, at: { $lte: at - STUCK_FENCE_MS } }, { projection: { _id: 1 } })
      .toArray();
    if (stale.length === 0) return [];
    const staleIds = new Set(stale.map((f) => f._id));
    const suspects = lost.filter((x) => staleIds.has(fenceId(x.c.doc._id, x.to)));
    const current = await deliveries
      .find({ _id: { $in: suspects.map((x) => x.c.doc._id) } }, { projection: { gen: 1 } })
      .toArray();
    const gens = new Map(current.map((d) => [d._id, d.gen]));
    const stuck = suspects.filter((x) => gens.get(x.c.doc._id) === x.from).map((x) => ({ ...x, to: x.from + 2 }));
    return claimFences(op, stuck, at);
  }

  /** Applies the changes this host wins; returns the deliveries as written. */
  return async function apply(op: string, changes: Change[]): Promise<DeliveryDoc[]> {
    if (changes.length === 0) return [];
    const started = clock.now();
    const claims = changes.map((c) => ({ c, from: c.doc.gen, to: c.doc.gen + 1 }));
    const won = await claimFences(op, claims, started);
    if (won.length < claims.length) {
      const mine = new Set(won);
      won.push(
        ...(await takeOverStuck(
          op,
          claims.filter((x) => !mine.has(x)),
          started,
        )),
      );
    }
    // A writer stalled this long may have been taken over already (takeOverStuck): it must not write any more.
    if (won.length === 0 || clock.now() - started > STUCK_FENCE_MS / 2) return [];
    const writes: AnyBulkWriteOperation<DeliveryDoc>[] = won.map(({ c, from, to }) => ({
      updateOne: {
        // `gen: from` makes the write itself conditional too where the server can (MongoDB)
        filter: { _id: c.doc._id, gen: from },
        update: {
          $set: { ...c.set, gen: to },
          ...(c.unset?.length ? { $unset: Object.fromEntries(c.unset.map((k) => [k, ""])) } : {}),
          ...(c.push ? { $push: { history: c.push } } : {}),
        },
      },
    }));
    let matched = 0;
    for (let i = 0; i < writes.length; i += UPDATES_PER_COMMAND) {
      matched += (await deliveries.bulkWrite(writes.slice(i, i + UPDATES_PER_COMMAND), { ordered: false }))
        .matchedCount;
    }
    let applied = won;
    if (matched < won.length) {
      const now = await deliveries
        .find({ _id: { $in: won.map((x) => x.c.doc._id) } }, { projection: { gen: 1 } })
        .toArray();
      const gens = new Map(now.map((d) => [d._id, d.gen]));
      applied = won.filter((x) => gens.get(x.c.doc._id) === x.to);
    }
    return applied.map(({ c, to }) => {
      const doc: DeliveryDoc = { ...c.doc, ...c.set, gen: to };
      for (const k of c.unset ?? []) delete doc[k];
      if (c.push) doc.history = [...doc.history, c.push];
      return doc;
    });
  };
}
