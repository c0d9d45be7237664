// SQLite schema of the local queue: one row per message, one per recipient delivery, one per attempt.
import type Database from "better-sqlite3";

export const LOCAL_QUEUE_SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY,
  body_id TEXT NOT NULL,
  sender TEXT NOT NULL,
  size INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  message_id_header TEXT NOT NULL,
  subject TEXT,
  source TEXT NOT NULL,
  open_deliveries INTEGER NOT NULL,
  body_removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_finished ON messages(open_deliveries, body_removed);
CREATE INDEX IF NOT EXISTS messages_body ON messages(body_id);

CREATE TABLE IF NOT EXISTS deliveries (
  id TEXT PRIMARY KEY,
  message_id TEXT NOT NULL REFERENCES messages(id),
  zone TEXT NOT NULL,
  recipient TEXT NOT NULL,
  domain TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_owner TEXT,
  lease_expires_at INTEGER NOT NULL DEFAULT 0,
  last_response TEXT,
  updated_at INTEGER NOT NULL
);
-- Only open deliveries are in the due index, so finished history costs nothing to leasing.
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(zone, next_attempt_at) WHERE state IN ('queued', 'deferred');
CREATE INDEX IF NOT EXISTS deliveries_message ON deliveries(message_id);

CREATE TABLE IF NOT EXISTS attempts (
  delivery_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  response TEXT NOT NULL,
  category TEXT,
  local_address TEXT,
  mx TEXT,
  tls INTEGER
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts(delivery_id);

CREATE TABLE IF NOT EXISTS idempotency (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  message_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
);
`;

/**
 * Migrations after the base schema, in order; `PRAGMA user_version` counts those applied. Each keeps existing
 * data: a file written by an older version opens, gains what is new, and its deliveries go on.
 */
export const LOCAL_QUEUE_MIGRATIONS: readonly string[] = [
  // 1: queue operations — deliveries on hold are never leased; the audit trail of operator actions.
  `ALTER TABLE deliveries ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE IF NOT EXISTS audit (
     id TEXT PRIMARY KEY,
     at INTEGER NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT NOT NULL,
     affected INTEGER NOT NULL,
     detail TEXT
   );
   CREATE INDEX IF NOT EXISTS deliveries_domain ON deliveries(domain) WHERE state IN ('queued', 'deferred');`,
  // 2: DKIM body hashes made at intake (JSON {relaxed?, simple?}), signed from at send time.
  "ALTER TABLE messages ADD COLUMN dkim_body_hash TEXT;",
  // 3: header fields plugins added after intake (JSON array of "Name: value"), put on top at send time.
  "ALTER TABLE messages ADD COLUMN extra_headers TEXT;",
  // 4: the outbound TLS policy of an attempt and the negotiated protocol and cipher (docs/tls.md).
  `ALTER TABLE attempts ADD COLUMN tls_policy TEXT;
   ALTER TABLE attempts ADD COLUMN tls_version TEXT;
   ALTER TABLE attempts ADD COLUMN tls_cipher TEXT;`,
];

/** Applies the migrations a file has not seen yet, each in its own transaction with its version bump. */
export function migrateLocalQueue(db: Database.Database): void {
  const applied = db.pragma("user_version", { simple: true }) as number;
  for (let v = applied; v < LOCAL_QUEUE_MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(LOCAL_QUEUE_MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
