// Queue on a local SQLite file (WAL; enqueues fsynced before they resolve): the embedded mode's durable queue.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import {
  type Attempt,
  type Delivery,
  type LeasedDelivery,
  type MessageRecord,
  queuedDelivery,
} from "../../domain/envelope.ts";
import { type Clock, systemClock } from "../../ports/clock.ts";
import type { Queue } from "../../ports/queue.ts";
import type { QueueOps } from "../../ports/queue-ops.ts";
import { eachInSavepoint, perTurn } from "../sqlite-per-turn.ts";
import { createWalSync } from "../sqlite-wal-sync.ts";
import { LocalHandoff } from "./local-handoff.ts";
import { createLocalQueueOps } from "./local-ops.ts";
import { LOCAL_QUEUE_SCHEMA, migrateLocalQueue } from "./local-schema.ts";

interface MessageRow {
  id: string;
  body_id: string;
  sender: string;
  size: number;
  received_at: number;
  message_id_header: string;
  subject: string | null;
  source: string;
  dkim_body_hash: string | null;
  extra_headers: string | null;
}
interface DeliveryRow {
  id: string;
  message_id: string;
  zone: string;
  recipient: string;
  domain: string;
  state: Delivery["state"];
  attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_expires_at: number;
  last_response: string | null;
  updated_at: number;
}
interface AttemptRow {
  delivery_id: string;
  at: number;
  duration_ms: number;
  outcome: Attempt["outcome"];
  response: string;
  category: string | null;
  local_address: string | null;
  mx: string | null;
  tls: number | null;
  tls_policy: string | null;
  tls_version: string | null;
  tls_cipher: string | null;
}

const toMessage = (r: MessageRow): MessageRecord => ({
  id: r.id,
  bodyId: r.body_id,
  from: r.sender,
  size: r.size,
  receivedAt: r.received_at,
  messageIdHeader: r.message_id_header,
  ...(r.subject === null ? {} : { subject: r.subject }),
  source: JSON.parse(r.source),
  ...(r.dkim_body_hash === null ? {} : { dkimBodyHash: JSON.parse(r.dkim_body_hash) }),
  ...(r.extra_headers === null ? {} : { extraHeaders: JSON.parse(r.extra_headers) }),
});
const toDelivery = (r: DeliveryRow): Delivery => ({
  id: r.id,
  messageId: r.message_id,
  zone: r.zone,
  recipient: r.recipient,
  domain: r.domain,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  ...(r.last_response === null ? {} : { lastResponse: r.last_response }),
  updatedAt: r.updated_at,
});
const toAttempt = (r: AttemptRow): Attempt => ({
  deliveryId: r.delivery_id,
  at: r.at,
  durationMs: r.duration_ms,
  outcome: r.outcome,
  response: r.response,
  ...(r.category === null ? {} : { category: r.category }),
  ...(r.local_address === null ? {} : { localAddress: r.local_address }),
  ...(r.mx === null ? {} : { mx: r.mx }),
  ...(r.tls === null ? {} : { tls: r.tls === 1 }),
  ...(r.tls_policy === null ? {} : { tlsPolicy: r.tls_policy }),
  ...(r.tls_version === null ? {} : { tlsVersion: r.tls_version }),
  ...(r.tls_cipher === null ? {} : { tlsCipher: r.tls_cipher }),
});

/** The local queue also offers queue operations (`ops`, shared/ports/queue-ops.ts). */
export type LocalQueue = Queue & { ops: QueueOps };

export function createLocalQueue(options: { path: string; clock?: Clock }): LocalQueue {
  const clock = options.clock ?? systemClock;
  if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
  const db = new Database(options.path, { timeout: 0 });
  // One process owns a local queue (the embedded mode): EXCLUSIVE makes a second opener fail loudly instead of
  // two senders racing on one file. The lock dies with the process, so a crash leaves nothing held.
  try {
    // Queue rows are small and every commit writes each page it touched to the WAL in full: 1 KiB pages write a
    // quarter of the bytes of the default 4 KiB (~25% less CPU per message in the queue, issue 9). Takes effect
    // only when the file is created; an existing queue keeps its page size.
    db.pragma("page_size = 1024");
    db.pragma("locking_mode = EXCLUSIVE");
    db.pragma("journal_mode = WAL");
    db.exec("BEGIN IMMEDIATE; COMMIT");
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== "SQLITE_BUSY") throw err;
    throw new Error(`local queue ${options.path} is locked by another process (an embedded queue has one owner)`);
  }
  // NORMAL: a commit writes the WAL without fsync (a crash loses nothing; a power loss may repeat a delivery).
  // Enqueues resolve only after an fdatasync of the WAL (see commitEnqueues), so a 250 survives power loss too.
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.exec(LOCAL_QUEUE_SCHEMA);
  migrateLocalQueue(db);
  // Leases left by an earlier process that died (kill -9, power loss) belong to nobody now: with the file locked
  // to us, that work is due again at once instead of waiting out queue.leaseTime.
  db.prepare("UPDATE deliveries SET lease_owner = NULL, lease_expires_at = 0 WHERE lease_owner IS NOT NULL").run();
  let lastError: string | undefined;
  const walSync = createWalSync(options.path, "local queue");
  const handoff = new LocalHandoff();

  const st = {
    insertMessage: db.prepare(
      `INSERT INTO messages (id, body_id, sender, size, received_at, message_id_header, subject, source, open_deliveries,
       dkim_body_hash, extra_headers)
       VALUES (@id, @bodyId, @from, @size, @receivedAt, @messageIdHeader, @subject, @source, @open, @dkimBodyHash,
       @extraHeaders)`,
    ),
    insertDelivery: db.prepare(
      `INSERT INTO deliveries (id, message_id, zone, recipient, domain, state, next_attempt_at, updated_at, lease_owner,
       lease_expires_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
    ),
    findIdempotent: db.prepare("SELECT message_id FROM idempotency WHERE scope = ? AND key = ? AND expires_at > ?"),
    upsertIdempotent: db.prepare(
      "INSERT OR REPLACE INTO idempotency (scope, key, message_id, expires_at) VALUES (?, ?, ?, ?)",
    ),
    pruneIdempotent: db.prepare("DELETE FROM idempotency WHERE expires_at <= ?"),
    due: db.prepare(
      `SELECT id FROM deliveries WHERE zone = ? AND state IN ('queued', 'deferred') AND next_attempt_at <= ?
       AND lease_expires_at <= ? AND held = 0 ORDER BY next_attempt_at LIMIT ?`,
    ),
    takeLease: db.prepare("UPDATE deliveries SET lease_owner = ?, lease_expires_at = ? WHERE id = ?"),
    leasedRows: db.prepare(
      `SELECT d.*, m.id AS m_id, m.body_id, m.sender, m.size, m.received_at, m.message_id_header, m.subject, m.source,
       m.dkim_body_hash, m.extra_headers
       FROM deliveries d JOIN messages m ON m.id = d.message_id
       WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.domain, d.next_attempt_at`,
    ),
    dropLeases: db.prepare(
      `UPDATE deliveries SET lease_owner = NULL, lease_expires_at = 0 WHERE id IN (SELECT value FROM json_each(?))
       AND lease_owner = ?`,
    ),
    renew: db.prepare(
      `UPDATE deliveries SET lease_expires_at = ? WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ?
       AND state IN ('queued', 'deferred')`,
    ),
    complete: db.prepare(
      `UPDATE deliveries SET state = @state, attempts = attempts + 1, next_attempt_at = @next, lease_owner = NULL,
       lease_expires_at = 0, last_response = @response, updated_at = @now
       WHERE id = @id AND lease_owner = @owner AND state IN ('queued', 'deferred')`,
    ),
    insertAttempt: db.prepare(
      `INSERT INTO attempts (delivery_id, at, duration_ms, outcome, response, category, local_address, mx, tls,
         tls_policy, tls_version, tls_cipher)
       VALUES (@deliveryId, @at, @durationMs, @outcome, @response, @category, @localAddress, @mx, @tls,
         @tlsPolicy, @tlsVersion, @tlsCipher)`,
    ),
    closeOne: db.prepare(
      "UPDATE messages SET open_deliveries = open_deliveries - 1 WHERE id = (SELECT message_id FROM deliveries WHERE id = ?)",
    ),
    release: db.prepare(
      "UPDATE deliveries SET lease_owner = NULL, lease_expires_at = 0 WHERE lease_owner = ? AND state IN ('queued', 'deferred')",
    ),
    cancel: db.prepare(
      `UPDATE deliveries SET state = 'cancelled', lease_owner = NULL, lease_expires_at = 0, updated_at = ?,
       last_response = 'cancelled' WHERE message_id = ? AND state IN ('queued', 'deferred')`,
    ),
    closeMany: db.prepare("UPDATE messages SET open_deliveries = open_deliveries - ? WHERE id = ?"),
    message: db.prepare("SELECT * FROM messages WHERE id = ?"),
    deliveriesOf: db.prepare("SELECT * FROM deliveries WHERE message_id = ? ORDER BY rowid"),
    attemptsOf: db.prepare(
      "SELECT * FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE message_id = ?) ORDER BY at, rowid",
    ),
    nextDue: db.prepare(
      `SELECT MIN(MAX(next_attempt_at, lease_expires_at)) AS t FROM deliveries
       WHERE zone = ? AND state IN ('queued', 'deferred') AND held = 0`,
    ),
    finished: db.prepare("SELECT id, body_id FROM messages WHERE open_deliveries = 0 AND body_removed = 0 LIMIT ?"),
    bodyRemoved: db.prepare("UPDATE messages SET body_removed = 1 WHERE id = ?"),
    hasBody: db.prepare("SELECT 1 FROM messages WHERE body_id = ? AND body_removed = 0 LIMIT 1"),
  };

  /** Runs a statement group, remembering a storage failure so intake can refuse quickly. */
  function noted<T>(work: () => T): T {
    try {
      const result = work();
      lastError = undefined;
      return result;
    } catch (err) {
      const code = (err as { code?: string }).code ?? "";
      if (/SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT)/.test(code)) lastError = `local queue: ${code}`;
      throw err;
    }
  }
  function guarded<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(noted(work));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Group commit: enqueues that arrive in the same turn of the event loop share one transaction, and every
   * transaction committed while an fdatasync of the WAL runs shares the next one. Each enqueue runs in its own
   * savepoint, so one failing enqueue fails alone. The fsync runs on libuv's thread pool: under
   * synchronous=FULL it ran inside COMMIT on the main thread, which then served no client for ~1 ms per group.
   */
  type EnqueueArgs = Parameters<Queue["enqueue"]>;
  interface PendingEnqueue {
    args: EnqueueArgs;
    resolve: (r: Awaited<ReturnType<Queue["enqueue"]>>) => void;
    reject: (err: unknown) => void;
  }
  let pendingEnqueues: PendingEnqueue[] = [];
  /** What the enqueues of the group being committed handed over (undone if the commit fails). */
  let handedInGroup: LeasedDelivery[][] = [];
  const enqueueGroupTx = db.transaction((group: PendingEnqueue[]) =>
    group.map((item) => {
      try {
        return { ok: enqueueTx(...item.args) };
      } catch (err) {
        return { err };
      }
    }),
  );
  function commitEnqueues() {
    const group = pendingEnqueues;
    pendingEnqueues = [];
    handedInGroup = [];
    let outcomes: ReturnType<typeof enqueueGroupTx>;
    try {
      outcomes = enqueueGroupTx(group);
      lastError = undefined;
    } catch (err) {
      for (const handed of handedInGroup) handoff.unreserve(handed);
      const code = (err as { code?: string }).code ?? "";
      if (/SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT)/.test(code)) lastError = `local queue: ${code}`;
      for (const item of group) item.reject(err);
      return;
    }
    walSync().then(
      () => {
        for (const [i, o] of outcomes.entries()) {
          const result = o.ok;
          if (result === undefined) {
            group[i]!.reject(o.err);
            continue;
          }
          // Only now that the message is durable may its sender see it.
          if (result.created) handoff.add(result.handed);
          group[i]!.resolve(result.created ? { created: true } : result);
        }
      },
      (err) => {
        lastError = `local queue: fsync ${(err as NodeJS.ErrnoException).code ?? "failed"}`;
        // Committed but not known to be durable: the clients hear 4xx and will send again, so the copies queued
        // here must not go out as well.
        for (const [i, o] of outcomes.entries()) {
          if (o.ok?.created) handoff.unreserve(o.ok.handed);
          if ("ok" in o && o.ok?.created) {
            try {
              cancelTx(group[i]!.args[0].id, clock.now());
            } catch {
              // the queue is failing anyway; the client has been told
            }
          }
          group[i]!.reject(err);
        }
      },
    );
  }

  const enqueueTx = db.transaction(
    (message: MessageRecord, deliveries: Parameters<Queue["enqueue"]>[1], claim?: Parameters<Queue["enqueue"]>[2]) => {
      const now = clock.now();
      if (claim) {
        const existing = st.findIdempotent.get(claim.scope, claim.key, now) as { message_id: string } | undefined;
        if (existing) return { created: false as const, existingMessageId: existing.message_id };
        st.pruneIdempotent.run(now);
        st.upsertIdempotent.run(claim.scope, claim.key, message.id, claim.expiresAt);
      }
      st.insertMessage.run({
        ...message,
        subject: message.subject ?? null,
        source: JSON.stringify(message.source),
        open: deliveries.length,
        dkimBodyHash: message.dkimBodyHash ? JSON.stringify(message.dkimBodyHash) : null,
        extraHeaders: message.extraHeaders?.length ? JSON.stringify(message.extraHeaders) : null,
      });
      const handed: LeasedDelivery[] = [];
      for (const d of deliveries) {
        const due = d.nextAttemptAt ?? now;
        const taker = due <= now ? handoff.taker(d.zone, handed) : undefined;
        const until = taker ? now + taker.leaseMs : 0;
        st.insertDelivery.run(d.id, message.id, d.zone, d.recipient, d.domain, due, now, taker?.owner ?? null, until);
        if (taker) {
          handed.push({
            ...queuedDelivery(message.id, d, now),
            leaseOwner: taker.owner,
            leaseExpiresAt: until,
            message,
          });
        }
      }
      handoff.reserve(handed);
      handedInGroup.push(handed);
      return { created: true as const, handed };
    },
  );

  const leaseTx = db.transaction((zone: string, owner: string, limit: number, until: number, now: number) => {
    const ids = (st.due.all(zone, now, now, limit) as { id: string }[]).map((r) => r.id);
    for (const id of ids) st.takeLease.run(owner, until, id);
    return ids;
  });

  const completeTx = db.transaction((id: string, owner: string, completion: Parameters<Queue["complete"]>[2]) => {
    const now = clock.now();
    const a = completion.attempt;
    const state = completion.outcome === "deferred" ? "deferred" : completion.outcome;
    const next = completion.outcome === "deferred" ? completion.nextAttemptAt : now;
    const changed = st.complete.run({ state, next, response: a.response, now, id, owner }).changes > 0;
    if (!changed) return false;
    st.insertAttempt.run({
      deliveryId: id,
      at: a.at,
      durationMs: a.durationMs,
      outcome: a.outcome,
      response: a.response,
      category: a.category ?? null,
      localAddress: a.localAddress ?? null,
      mx: a.mx ?? null,
      tls: a.tls === undefined ? null : a.tls ? 1 : 0,
      tlsPolicy: a.tlsPolicy ?? null,
      tlsVersion: a.tlsVersion ?? null,
      tlsCipher: a.tlsCipher ?? null,
    });
    if (state !== "deferred") st.closeOne.run(id);
    return true;
  });

  /**
   * Completions that arrive in the same turn of the event loop share one transaction (a savepoint each): the
   * recipients of one SMTP transaction complete together, and each commit writes its pages to the WAL once.
   */
  const completeEach = eachInSavepoint(db, (args: Parameters<Queue["complete"]>) => completeTx(...args));
  const completeInTurn = perTurn((group: Parameters<Queue["complete"]>[]) => noted(() => completeEach(group)));

  /** Handed deliveries nobody took go back to storage as due work. */
  function releaseHanded(left: LeasedDelivery[]) {
    const byOwner = new Map<string, string[]>();
    for (const d of left) byOwner.set(d.leaseOwner, [...(byOwner.get(d.leaseOwner) ?? []), d.id]);
    try {
      for (const [owner, ids] of byOwner) st.dropLeases.run(JSON.stringify(ids), owner);
    } catch {
      // storage failing: the leases run out by themselves (queue.leaseTime)
    }
  }

  /** Bodies released in the same turn (the garbage collector's batches) are marked in one transaction. */
  const markEach = eachInSavepoint(db, (messageId: string) => {
    st.bodyRemoved.run(messageId);
  });
  const markInTurn = perTurn((ids: string[]) => noted(() => markEach(ids)));

  const cancelTx = db.transaction((messageId: string, now: number) => {
    const n = st.cancel.run(now, messageId).changes;
    if (n > 0) st.closeMany.run(n, messageId);
    return n;
  });

  return {
    enqueue: (message, deliveries, claim) =>
      new Promise((resolve, reject) => {
        pendingEnqueues.push({ args: [message, deliveries, claim], resolve, reject });
        if (pendingEnqueues.length === 1) setImmediate(commitEnqueues);
      }),

    lease: (zone, { owner, limit, leaseMs, now }) =>
      guarded(() => {
        // Work that waited in storage first (it is older), then what was handed over fresh.
        const ids = leaseTx(zone, owner, limit, now + leaseMs, now);
        const rows = ids.length
          ? (st.leasedRows.all(JSON.stringify(ids)) as (DeliveryRow & MessageRow & { m_id: string })[])
          : [];
        const leased = rows.map(
          (r): LeasedDelivery => ({
            ...toDelivery(r),
            leaseOwner: owner,
            leaseExpiresAt: now + leaseMs,
            message: toMessage({ ...r, id: r.m_id }),
          }),
        );
        const handed = handoff.take(zone, owner, limit - leased.length, now);
        // A lease handed over a while ago gets its full time again, as a fresh lease would have.
        const short = handed.filter((d) => d.leaseExpiresAt < now + leaseMs / 2);
        if (short.length) {
          st.renew.run(now + leaseMs, JSON.stringify(short.map((d) => d.id)), owner);
          for (const d of short) d.leaseExpiresAt = now + leaseMs;
        }
        return handed.length ? [...leased, ...handed] : leased;
      }),

    handOff: (zone, offer) => {
      handoff.offer(zone, offer);
      return () => releaseHanded(handoff.withdraw(zone));
    },

    renew: (ids, owner, until) =>
      guarded(() => {
        st.renew.run(until, JSON.stringify(ids), owner);
      }),

    complete: (id, owner, completion) => completeInTurn([id, owner, completion]),

    release: (owner) =>
      guarded(() => {
        handoff.withdrawOwner(owner); // their leases are released with the rest below
        return st.release.run(owner).changes;
      }),

    cancel: (messageId, now) =>
      guarded(() => {
        handoff.dropMessage(messageId);
        return cancelTx(messageId, now);
      }),

    getMessage: (messageId) =>
      guarded(() => {
        const m = st.message.get(messageId) as MessageRow | undefined;
        if (!m) return undefined;
        const attempts = (st.attemptsOf.all(messageId) as AttemptRow[]).map(toAttempt);
        const deliveries = (st.deliveriesOf.all(messageId) as DeliveryRow[]).map((d) => ({
          ...toDelivery(d),
          history: attempts.filter((a) => a.deliveryId === d.id),
        }));
        return { message: toMessage(m), deliveries };
      }),

    nextDueAt: (zone) =>
      guarded(() => {
        if (handoff.hasWaiting(zone)) return clock.now();
        return (st.nextDue.get(zone) as { t: number | null }).t ?? undefined;
      }),

    finishedMessages: (limit) =>
      guarded(() =>
        (st.finished.all(limit) as { id: string; body_id: string }[]).map((r) => ({ id: r.id, bodyId: r.body_id })),
      ),

    markBodyRemoved: (messageId) => markInTurn(messageId),

    hasBody: (bodyId) => guarded(() => st.hasBody.get(bodyId) !== undefined),

    unhealthyReason: () => lastError,

    ops: recallingOps(createLocalQueueOps(db, guarded, clock), () => releaseHanded(handoff.recall())),

    close: async () => {
      // Idempotent: a second close (e.g. a test's teardown after the test closed it) does nothing.
      if (!db.open) return;
      await walSync.close();
      db.close();
    },
  };
}

/**
 * An operator's change (retry, hold, remove, flush) applies to what is in storage; deliveries handed to a sender
 * but not yet taken go back there first, so the change reaches them before any is attempted.
 */
function recallingOps(ops: QueueOps, recall: () => void): QueueOps {
  const recalled =
    <A extends unknown[], R>(op: (...args: A) => Promise<R>) =>
    (...args: A) => {
      recall();
      return op(...args);
    };
  return {
    ...ops,
    retry: recalled(ops.retry),
    hold: recalled(ops.hold),
    remove: recalled(ops.remove),
    flush: recalled(ops.flush),
  };
}
