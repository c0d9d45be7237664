// core/webhooks: delivery and bounce events POSTed to your URL as JSON, signed with HMAC-SHA256, from a durable
// outbox (SQLite, fsynced): an event is written before anything else happens to it, retried with exponential
// back-off until the receiver answers 2xx, and survives a restart. At least once: receivers dedupe by `id`.
//
//   X-ZoneRelay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
import { createHmac, randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { z } from "zod";
import { duration } from "../../config/units.ts";
import { definePlugin } from "../hooks.ts";
import { parseOptions } from "./options.ts";

const schema = z
  .object({
    url: z.string().url(),
    secret: z.string().min(16),
    events: z.array(z.enum(["delivered", "bounced", "deferred", "dropped"])).default(["delivered", "bounced"]),
    /** The outbox file (default: beside the queue, `webhooks.sqlite`). */
    outbox: z.string().optional(),
    timeout: duration().prefault("10s"),
    /** First retry after this; doubles each time up to maxBackoff. */
    backoff: duration().prefault("10s"),
    maxBackoff: duration().prefault("1h"),
    /** Give up on an event after this long (it stays in the outbox, marked failed). */
    maxAge: duration().prefault("3d"),
    pollInterval: duration().prefault("1s"),
  })
  .strict();

interface Row {
  id: string;
  body: string;
  attempts: number;
  created_at: number;
}

export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export const webhooksPlugin = definePlugin({
  name: "webhooks",
  setup(api) {
    const o = parseOptions(schema, api.options);
    const file = o.outbox ?? join(dirname(api.config.queue.dbPath), "webhooks.sqlite");
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL"); // an event acknowledged to the outbox survives a power loss
    db.exec(`CREATE TABLE IF NOT EXISTS outbox (
      id TEXT PRIMARY KEY, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
      created_at INTEGER NOT NULL, failed INTEGER NOT NULL DEFAULT 0, last_error TEXT)`);
    db.exec("CREATE INDEX IF NOT EXISTS outbox_due ON outbox(failed, next_at)");
    const st = {
      add: db.prepare("INSERT INTO outbox (id, body, next_at, created_at) VALUES (?, ?, ?, ?)"),
      due: db.prepare(
        "SELECT id, body, attempts, created_at FROM outbox WHERE failed = 0 AND next_at <= ? ORDER BY next_at LIMIT 20",
      ),
      done: db.prepare("DELETE FROM outbox WHERE id = ?"),
      retry: db.prepare("UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?"),
      fail: db.prepare("UPDATE outbox SET failed = 1, last_error = ? WHERE id = ?"),
    };
    const wanted = new Set(o.events);

    const enqueue = (event: string, data: Record<string, unknown>) => {
      if (!wanted.has(event as (typeof o.events)[number])) return;
      const id = randomUUID();
      const now = Date.now();
      st.add.run(id, JSON.stringify({ id, event, at: new Date(now).toISOString(), ...data }), now, now);
      wake();
    };

    api.on("log:entry", ({ entry }) => {
      const { event, ...rest } = entry;
      enqueue(event, rest);
    });

    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> | undefined;
    let closed = false;
    function wake() {
      if (!closed && !running) running = drain().finally(() => (running = undefined));
    }
    async function drain() {
      for (;;) {
        const rows = st.due.all(Date.now()) as Row[];
        if (rows.length === 0 || closed) return;
        await Promise.all(rows.map(send));
      }
    }
    async function send(row: Row) {
      const t = Math.floor(Date.now() / 1000);
      let error: string;
      try {
        const res = await fetch(o.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-zonerelay-signature": webhookSignature(o.secret, t, row.body),
            "x-zonerelay-event-id": row.id,
          },
          body: row.body,
          signal: AbortSignal.timeout(o.timeout),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          st.done.run(row.id);
          return;
        }
        error = `HTTP ${res.status}`;
      } catch (err) {
        error = (err as Error).message;
      }
      if (Date.now() - row.created_at > o.maxAge) {
        st.fail.run(error, row.id);
        api.logger.error({ eventId: row.id, error }, "webhook given up");
        return;
      }
      const delay = Math.min(o.maxBackoff, o.backoff * 2 ** row.attempts);
      st.retry.run(Date.now() + delay, error, row.id);
      api.logger.warn({ eventId: row.id, error, retryInMs: delay }, "webhook failed, will retry");
    }

    timer = setInterval(wake, o.pollInterval);
    timer.unref();
    wake(); // events left by an earlier run
    api.onClose(async () => {
      closed = true;
      clearInterval(timer);
      await running;
      db.close();
    });
  },
});
