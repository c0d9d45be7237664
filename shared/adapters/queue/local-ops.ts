// Queue operations on the local SQLite queue: list, count, retry, hold/release, remove, flush, and the audit trail.
import type Database from "better-sqlite3";
import type { Delivery, MessageRecord } from "../../domain/envelope.ts";
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

type Guarded = <T>(work: () => T) => Promise<T>;

interface Row {
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
  held: number;
  sender: string;
  subject: string | null;
  received_at: number;
  size: number;
}

const OPEN_SQL = "d.state IN ('queued', 'deferred')";

/** One state as SQL: `held` is an open delivery with the flag; queued/deferred are those without it. */
function stateSql(state: OpsState): string {
  switch (state) {
    case "held":
      return `(${OPEN_SQL} AND d.held = 1)`;
    case "queued":
    case "deferred":
      return `(d.state = '${state}' AND d.held = 0)`;
    case "delivered":
    case "bounced":
    case "cancelled":
      return `d.state = '${state}'`;
  }
}

/** The filter as a WHERE clause over `deliveries d JOIN messages m`. */
function whereOf(f: DeliveryFilter, open: boolean): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (f.ids) {
    parts.push("d.id IN (SELECT value FROM json_each(?))");
    params.push(JSON.stringify(f.ids));
  }
  if (f.messageId !== undefined) {
    parts.push("d.message_id = ?");
    params.push(f.messageId);
  }
  if (f.zone !== undefined) {
    parts.push("d.zone = ?");
    params.push(f.zone);
  }
  if (f.domain !== undefined) {
    parts.push("d.domain = ?");
    params.push(f.domain.toLowerCase());
  }
  if (f.receivedBefore !== undefined) {
    parts.push("m.received_at < ?");
    params.push(f.receivedBefore);
  }
  if (f.receivedAfter !== undefined) {
    parts.push("m.received_at >= ?");
    params.push(f.receivedAfter);
  }
  if (f.reply !== undefined) {
    parts.push("instr(lower(coalesce(d.last_response, '')), lower(?)) > 0");
    params.push(f.reply);
  }
  const states = f.state?.length ? f.state : OPEN_OPS_STATES;
  parts.push(`(${states.map(stateSql).join(" OR ")})`);
  if (open) parts.push(OPEN_SQL);
  return { sql: parts.join(" AND "), params };
}

/** Cursors are opaque to callers: the rowid of the last row, base64url-encoded. */
const encodeCursor = (seq: number) => Buffer.from(String(seq), "utf8").toString("base64url");
const decodeCursor = (cursor: string) => Number(Buffer.from(cursor, "base64url").toString("utf8")) || 0;

function toOps(r: Row, now: number): OpsDelivery {
  const open = r.state === "queued" || r.state === "deferred";
  const held = open && r.held === 1;
  return {
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
    opsState: held ? "held" : r.state,
    held,
    leased: open && r.lease_owner !== null && r.lease_expires_at > now,
    from: r.sender,
    ...(r.subject === null ? {} : { subject: r.subject }),
    receivedAt: r.received_at,
    size: r.size,
  };
}

const FROM = "FROM deliveries d JOIN messages m ON m.id = d.message_id";

export function createLocalQueueOps(db: Database.Database, guarded: Guarded, clock: { now(): number }): QueueOps {
  /** Ids of open deliveries matching a filter (the set a mutation changes). */
  const openIds = (f: DeliveryFilter, extra = "", ...extraParams: unknown[]): string[] => {
    const w = whereOf(f, true);
    const rows = db.prepare(`SELECT d.id ${FROM} WHERE ${w.sql} ${extra}`).all(...w.params, ...extraParams);
    return (rows as { id: string }[]).map((r) => r.id);
  };
  const updateIds = (set: string, ids: string[], ...params: unknown[]) =>
    ids.length === 0
      ? 0
      : db
          .prepare(`UPDATE deliveries SET ${set} WHERE id IN (SELECT value FROM json_each(?))`)
          .run(...params, JSON.stringify(ids)).changes;

  const st = {
    closeMany: db.prepare("UPDATE messages SET open_deliveries = open_deliveries - ? WHERE id = ?"),
    message: db.prepare("SELECT * FROM messages WHERE id = ?"),
    insertAttempt: db.prepare(
      `INSERT INTO attempts (delivery_id, at, duration_ms, outcome, response, category)
       VALUES (?, ?, 0, 'bounced', ?, 'cancelled')`,
    ),
    insertAudit: db.prepare(
      "INSERT INTO audit (id, at, actor, action, target, affected, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    counts: db.prepare(
      `SELECT zone, CASE WHEN held = 1 THEN 'held' ELSE state END AS state, COUNT(*) AS count FROM deliveries
       WHERE state IN ('queued', 'deferred') GROUP BY 1, 2 ORDER BY 1, 2`,
    ),
  };

  /** Due now: open, not held, and not due already (so a second retry changes nothing). */
  const retry = (f: DeliveryFilter, now: number) =>
    guarded(() =>
      db.transaction(() =>
        updateIds(
          "next_attempt_at = ?, updated_at = ?",
          openIds(f, "AND d.held = 0 AND d.next_attempt_at > ?", now),
          now,
          now,
        ),
      )(),
    );

  const removeTx = db.transaction((f: DeliveryFilter, mode: "bounce" | "drop", reason: string, now: number) => {
    const w = whereOf(f, true);
    const rows = db.prepare(`SELECT d.* ${FROM} WHERE ${w.sql}`).all(...w.params) as Row[];
    if (rows.length === 0) return { count: 0, bounced: [] as RemovedDelivery[] };
    const state = mode === "bounce" ? "bounced" : "cancelled";
    const response = mode === "bounce" ? reason : "cancelled";
    const count = updateIds(
      "state = ?, lease_owner = NULL, lease_expires_at = 0, held = 0, last_response = ?, updated_at = ?",
      rows.map((r) => r.id),
      state,
      response,
      now,
    );
    const perMessage = new Map<string, number>();
    for (const r of rows) perMessage.set(r.message_id, (perMessage.get(r.message_id) ?? 0) + 1);
    for (const [id, n] of perMessage) st.closeMany.run(n, id);
    const bounced: RemovedDelivery[] = [];
    if (mode === "bounce") {
      const messages = new Map<string, MessageRecord>();
      for (const r of rows) {
        st.insertAttempt.run(r.id, now, reason);
        let message = messages.get(r.message_id);
        if (!message) {
          const m = st.message.get(r.message_id) as Record<string, unknown>;
          message = {
            id: m.id as string,
            bodyId: m.body_id as string,
            from: m.sender as string,
            size: m.size as number,
            receivedAt: m.received_at as number,
            messageIdHeader: m.message_id_header as string,
            ...(m.subject === null ? {} : { subject: m.subject as string }),
            source: JSON.parse(m.source as string),
          };
          messages.set(r.message_id, message);
        }
        bounced.push({
          ...toOps({ ...r, state: "bounced", last_response: reason, updated_at: now }, now),
          message,
        });
      }
    }
    return { count, bounced };
  });

  return {
    list: (f, { limit, cursor }) =>
      guarded((): Page<OpsDelivery> => {
        const w = whereOf(f, false);
        // rowid is insertion order: arrival order, with no ties between deliveries of one millisecond.
        const after = cursor === undefined ? "" : "AND d.rowid > ?";
        const params = cursor === undefined ? w.params : [...w.params, decodeCursor(cursor)];
        const rows = db
          .prepare(
            `SELECT d.*, d.rowid AS seq, m.sender, m.subject, m.received_at, m.size ${FROM} WHERE ${w.sql} ${after}
             ORDER BY d.rowid LIMIT ?`,
          )
          .all(...params, limit + 1) as (Row & { seq: number })[];
        const now = clock.now();
        const items = rows.slice(0, limit).map((r) => toOps(r, now));
        return rows.length > limit ? { items, nextCursor: encodeCursor(rows[limit - 1]!.seq) } : { items };
      }),

    counts: () => guarded(() => st.counts.all() as ZoneStateCount[]),

    retry,

    hold: (f, now) =>
      guarded(() => db.transaction(() => updateIds("held = 1, updated_at = ?", openIds(f, "AND d.held = 0"), now))()),

    release: (f, now) =>
      guarded(() =>
        db.transaction(() =>
          updateIds(
            "held = 0, next_attempt_at = MIN(next_attempt_at, ?), updated_at = ?",
            openIds(f, "AND d.held = 1"),
            now,
            now,
          ),
        )(),
      ),

    remove: (f, { mode, reason, now }) => guarded(() => removeTx(f, mode, reason, now)),

    flush: (domain, now, zone) => retry({ domain, ...(zone === undefined ? {} : { zone }) }, now),

    appendAudit: (e) =>
      guarded(() => {
        st.insertAudit.run(e.id, e.at, e.actor, e.action, JSON.stringify(e.target), e.affected, e.detail ?? null);
      }),

    listAudit: ({ limit, cursor }) =>
      guarded((): Page<AuditEntry> => {
        const rows = db
          .prepare(
            `SELECT rowid AS seq, * FROM audit ${cursor === undefined ? "" : "WHERE rowid < ?"} ORDER BY rowid DESC LIMIT ?`,
          )
          .all(...(cursor === undefined ? [] : [decodeCursor(cursor)]), limit + 1) as {
          seq: number;
          id: string;
          at: number;
          actor: string;
          action: string;
          target: string;
          affected: number;
          detail: string | null;
        }[];
        const items = rows.slice(0, limit).map(
          (r): AuditEntry => ({
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target: JSON.parse(r.target),
            affected: r.affected,
            ...(r.detail === null ? {} : { detail: r.detail }),
          }),
        );
        return rows.length > limit ? { items, nextCursor: encodeCursor(rows[limit - 1]!.seq) } : { items };
      }),
  };
}
