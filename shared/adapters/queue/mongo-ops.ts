// Queue operations on the MongoDB queue (list, count, retry, hold/release, remove, flush, audit trail). Every change
// of a delivery goes through the queue's version fences, so it composes with leases and completions on other hosts.
import type { Collection, Filter } from "mongodb";
import type { DeliveryState } from "../../domain/envelope.ts";
import { MailError } from "../../errors.ts";
import type { Clock } from "../../ports/clock.ts";
import type {
  AuditEntry,
  DeliveryFilter,
  OpsDelivery,
  OpsState,
  Page,
  QueueOps,
  RemovedDelivery,
  ZoneStateCount,
} from "../../ports/queue-ops.ts";
import { OPEN_OPS_STATES } from "../../ports/queue-ops.ts";
import type { Change } from "./mongo-fences.ts";
import { type AuditDoc, type DeliveryDoc, defined, type MessageDoc, toDelivery, toMessage } from "./mongo-schema.ts";

const OPEN: DeliveryState[] = ["queued", "deferred"];
/** Deliveries read (and changed) per round of a mutation; the fenced writer slices its updates further. */
const MUTATION_BATCH = 200;

/** The queue's `settle`: fenced changes decided on each delivery as read, losers read again and decided anew. */
export type Settle = (
  op: string,
  read: (only?: { _id: { $in: string[] } }) => Promise<DeliveryDoc[]>,
  decide: (doc: DeliveryDoc) => Omit<Change, "doc"> | undefined,
) => Promise<DeliveryDoc[]>;

export interface MongoOpsContext {
  deliveries: Collection<DeliveryDoc>;
  messages: Collection<MessageDoc>;
  audit: Collection<AuditDoc>;
  clock: Clock;
  /** The queue's order keys (`monotonicKeys`): audit entries take their `seq` from it. */
  nextKey: () => number;
  guarded: <T>(work: () => Promise<T>) => Promise<T>;
  settle: Settle;
}

/** One state as a query: `held` is an open delivery with the flag; queued/deferred are those without it. */
function stateQuery(state: OpsState): Filter<DeliveryDoc> {
  switch (state) {
    case "held":
      return { state: { $in: OPEN }, held: true };
    case "queued":
    case "deferred":
      return { state, held: { $ne: true } };
    case "delivered":
    case "bounced":
    case "cancelled":
      return { state };
  }
}

/** The delivery fields of a filter, as clauses for `$and` (the message's fields are checked on the message). */
function clausesOf(f: DeliveryFilter, open: boolean): Filter<DeliveryDoc>[] {
  const clauses: Filter<DeliveryDoc>[] = [];
  if (f.ids) clauses.push({ _id: { $in: [...f.ids] } });
  if (f.messageId !== undefined) clauses.push({ messageId: f.messageId });
  if (f.zone !== undefined) clauses.push({ zone: f.zone });
  if (f.domain !== undefined) clauses.push({ domain: f.domain.toLowerCase() });
  const states = f.state?.length ? f.state : OPEN_OPS_STATES;
  clauses.push({ $or: states.map(stateQuery) });
  if (open) clauses.push({ state: { $in: OPEN } });
  return clauses;
}

/** What the query cannot check (no join, no case-insensitive substring that works everywhere), checked here. */
function restMatches(f: DeliveryFilter, d: DeliveryDoc, m: MessageDoc): boolean {
  if (f.receivedBefore !== undefined && !(m.receivedAt < f.receivedBefore)) return false;
  if (f.receivedAfter !== undefined && !(m.receivedAt >= f.receivedAfter)) return false;
  if (f.reply !== undefined && !(d.lastResponse ?? "").toLowerCase().includes(f.reply.toLowerCase())) return false;
  return true;
}

/** A position in a listing: arrival order, ties (and deliveries from before `arrival` existed) by `_id`. */
interface Key {
  order: number | null;
  id: string;
}
const keyOf = (d: { _id: string; arrival?: number }): Key => ({ order: d.arrival ?? null, id: d._id });
/** The deliveries after a key; a missing `arrival` sorts first, as MongoDB sorts a missing field before numbers. */
const afterQuery = (k: Key): Filter<DeliveryDoc> =>
  k.order === null
    ? { $or: [{ arrival: { $exists: true } }, { arrival: { $exists: false }, _id: { $gt: k.id } }] }
    : { $or: [{ arrival: { $gt: k.order } }, { arrival: k.order, _id: { $gt: k.id } }] };

/** Cursors are opaque to callers: `[order, id]` as base64url JSON. */
const encodeCursor = (order: number | null, id: string) =>
  Buffer.from(JSON.stringify([order, id]), "utf8").toString("base64url");
function decodeCursor(cursor: string): Key {
  try {
    const [order, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown[];
    if ((order === null || typeof order === "number") && typeof id === "string") return { order, id };
  } catch {
    // not JSON: reported below
  }
  throw new MailError("invalid-request", "Invalid cursor: pass back a nextCursor as it was returned");
}

const leasedNow = (d: DeliveryDoc, now: number) => d.leaseOwner !== undefined && d.leaseExpiresAt > now;
/** When an open, not held delivery may be leased: at its lease's expiry while a lease is live, else `next`. */
const dueOf = (d: DeliveryDoc, next: number, now: number) => (leasedNow(d, now) ? d.leaseExpiresAt : next);

function toOps(d: DeliveryDoc, m: MessageDoc, now: number): OpsDelivery {
  const open = OPEN.includes(d.state);
  const held = open && d.held === true;
  return {
    ...toDelivery(d),
    opsState: held ? "held" : d.state,
    held,
    leased: open && leasedNow(d, now),
    from: m.from,
    ...(m.subject === undefined ? {} : { subject: m.subject }),
    receivedAt: m.receivedAt,
    size: m.size,
  };
}

export function createMongoQueueOps(ctx: MongoOpsContext): QueueOps {
  const { deliveries, messages, audit, clock, guarded, settle } = ctx;

  /**
   * Matching deliveries with their messages, in arrival order after `after`, a batch per read. A delivery whose
   * message does not exist is staged by an enqueue that has not committed: not queued, so never listed.
   */
  async function* matching(f: DeliveryFilter, open: boolean, after: Key | undefined, batch: number) {
    const clauses = clausesOf(f, open);
    let key = after;
    for (;;) {
      const docs = await deliveries
        .find({ $and: key ? [...clauses, afterQuery(key)] : clauses })
        .sort({ arrival: 1, _id: 1 })
        .limit(batch)
        .toArray();
      if (docs.length === 0) return;
      key = keyOf(docs.at(-1)!);
      const ids = [...new Set(docs.map((d) => d.messageId))];
      const byId = new Map((await messages.find({ _id: { $in: ids } }).toArray()).map((m) => [m._id, m]));
      const found = docs.flatMap((doc) => {
        const message = byId.get(doc.messageId);
        return message && restMatches(f, doc, message) ? [{ doc, message }] : [];
      });
      if (found.length) yield found;
      if (docs.length < batch) return;
    }
  }

  /**
   * Applies `decide` to every open delivery matching `f`, through the fenced writer. Where a lease, completion or
   * another operator took a version first, `settle` reads the delivery again (still open, still matching) and
   * decides anew; a delivery that became final meanwhile is left alone, as a mutation only changes open ones.
   */
  async function mutate(op: string, f: DeliveryFilter, decide: (doc: DeliveryDoc) => Omit<Change, "doc"> | undefined) {
    const clauses = clausesOf(f, true);
    const changed: { doc: DeliveryDoc; message: MessageDoc }[] = [];
    for await (const found of matching(f, true, undefined, MUTATION_BATCH)) {
      const byId = new Map(found.map((x) => [x.doc._id, x.message]));
      const won = await settle(
        op,
        async (only) => {
          if (!only) return found.map((x) => x.doc);
          const again = await deliveries.find({ $and: [...clauses, only] }).toArray();
          return again.filter((d) => byId.has(d._id) && restMatches(f, d, byId.get(d._id)!));
        },
        decide,
      );
      changed.push(...won.map((doc) => ({ doc, message: byId.get(doc._id)! })));
    }
    return changed;
  }

  /** Due now: open, not held, and not due already (so a second retry changes nothing). */
  const retry = (f: DeliveryFilter, now: number) =>
    guarded(async () => {
      const changed = await mutate("ops-retry", f, (d) =>
        d.held || d.nextAttemptAt <= now
          ? undefined
          : { set: { nextAttemptAt: now, dueAt: dueOf(d, now, now), updatedAt: now }, unset: ["staged"] },
      );
      return changed.length;
    });

  return {
    list: (f, { limit, cursor }) =>
      guarded(async (): Promise<Page<OpsDelivery>> => {
        const items: OpsDelivery[] = [];
        let last: DeliveryDoc | undefined;
        let more = false;
        const now = clock.now();
        // Reads a little more than a page: the message's fields and the reply are checked here, not in the query.
        scan: for await (const found of matching(
          f,
          false,
          cursor === undefined ? undefined : decodeCursor(cursor),
          Math.max(limit + 1, 100),
        )) {
          for (const { doc, message } of found) {
            if (items.length >= limit) {
              more = true;
              break scan;
            }
            items.push(toOps(doc, message, now));
            last = doc;
          }
        }
        return more && last ? { items, nextCursor: encodeCursor(keyOf(last).order, last._id) } : { items };
      }),

    counts: () =>
      guarded(async () => {
        const groups = await deliveries
          .aggregate<{ _id: { zone: string; state: "queued" | "deferred"; held?: true }; count: number }>([
            // staged deliveries are not queued yet (or never will be)
            { $match: { state: { $in: OPEN }, staged: { $exists: false } } },
            { $group: { _id: { zone: "$zone", state: "$state", held: "$held" }, count: { $sum: 1 } } },
          ])
          .toArray();
        const counts = new Map<string, ZoneStateCount>();
        for (const { _id, count } of groups) {
          const state = _id.held ? "held" : _id.state;
          const k = JSON.stringify([_id.zone, state]);
          const c = counts.get(k);
          if (c) c.count += count;
          else counts.set(k, { zone: _id.zone, state, count });
        }
        return [...counts.values()].sort((a, b) => a.zone.localeCompare(b.zone) || a.state.localeCompare(b.state));
      }),

    retry,

    // Held: no `dueAt`, so the lease query never finds it. A lease in flight keeps its owner, who may still renew
    // and complete it (the queue leaves `dueAt` unset for a held delivery).
    hold: (f, now) =>
      guarded(async () => {
        const changed = await mutate("ops-hold", f, (d) =>
          d.held ? undefined : { set: { held: true, updatedAt: now }, unset: ["dueAt", "staged"] },
        );
        return changed.length;
      }),

    release: (f, now) =>
      guarded(async () => {
        const changed = await mutate("ops-release", f, (d) => {
          if (!d.held) return undefined;
          const next = Math.min(d.nextAttemptAt, now);
          return {
            set: { nextAttemptAt: next, dueAt: dueOf(d, next, now), updatedAt: now },
            unset: ["held", "staged"],
          };
        });
        return changed.length;
      }),

    // As Queue.cancel: final, without owner, so a late completion by the sender that held the lease is refused.
    remove: (f, { mode, reason, now }) =>
      guarded(async () => {
        const bounce = mode === "bounce";
        const changed = await mutate(`ops-${mode}`, f, () => ({
          set: {
            state: bounce ? "bounced" : "cancelled",
            leaseExpiresAt: 0,
            lastResponse: bounce ? reason : "cancelled",
            updatedAt: now,
            collect: true,
          },
          unset: ["dueAt", "leaseOwner", "pinnedTo", "staged", "held"],
          ...(bounce
            ? { push: { at: now, durationMs: 0, outcome: "bounced" as const, response: reason, category: "cancelled" } }
            : {}),
        }));
        const bounced = bounce
          ? changed.map(
              ({ doc, message }): RemovedDelivery => ({ ...toOps(doc, message, now), message: toMessage(message) }),
            )
          : [];
        return { count: changed.length, bounced };
      }),

    flush: (domain, now, zone) => retry({ domain, ...(zone === undefined ? {} : { zone }) }, now),

    appendAudit: (e) =>
      guarded(async () => {
        // Stored as JSON would store it (as the local queue does): no `undefined`, dates as strings.
        const target = JSON.parse(JSON.stringify(e.target)) as Record<string, unknown>;
        const { id, at, actor, action, affected, detail } = e;
        await audit.insertOne(defined({ _id: id, seq: ctx.nextKey(), at, actor, action, target, affected, detail }));
      }),

    listAudit: ({ limit, cursor }) =>
      guarded(async (): Promise<Page<AuditEntry>> => {
        const after = cursor === undefined ? undefined : decodeCursor(cursor);
        const docs = await audit
          .find(
            after
              ? { $or: [{ seq: { $lt: after.order ?? 0 } }, { seq: after.order ?? 0, _id: { $lt: after.id } }] }
              : {},
          )
          .sort({ seq: -1, _id: -1 })
          .limit(limit + 1)
          .toArray();
        const items = docs.slice(0, limit).map(({ _id, seq, ...rest }): AuditEntry => ({ id: _id, ...rest }));
        const last = docs[limit - 1];
        return docs.length > limit && last ? { items, nextCursor: encodeCursor(last.seq, last._id) } : { items };
      }),
  };
}
