// Small message bodies of the local spool, kept in one SQLite file (`bodies.sqlite`) instead of a file each.
//
// A file per 4 KB message cost more than everything else the embedded relay does with it: create, write, rename,
// a directory fsync, later an unlink — kernel work and five thread-pool round trips per message (measured: ~30% of
// the relay's CPU at 4 KB, issue 9). Here puts that arrive together share one transaction and one fdatasync of the
// WAL (group commit, as the local queue does), so a put is durable when it resolves, at a fraction of the cost.
import Database from "better-sqlite3";
import { eachInSavepoint, perTurn } from "../sqlite-per-turn.ts";
import { createWalSync } from "../sqlite-wal-sync.ts";

const SCHEMA = "CREATE TABLE IF NOT EXISTS bodies (id TEXT PRIMARY KEY, data BLOB NOT NULL)";
const PAGE = 500;

export interface InlineBodies {
  /** Stores the body; resolves once it is durable. */
  put(id: string, data: Buffer): Promise<void>;
  get(id: string): Buffer | undefined;
  /** Removes the body; true when it was here. Deletes of one turn share a transaction. */
  delete(id: string): Promise<boolean>;
  /** Every id held, a page at a time (so writes can go on between pages). */
  ids(): AsyncIterable<string>;
  close(): Promise<void>;
}

export function openInlineBodies(path: string): InlineBodies {
  const db = new Database(path, { timeout: 5000 });
  db.pragma("journal_mode = WAL");
  // Durability comes from the fdatasync after each group (walSync), not from SQLite's own syncs.
  db.pragma("synchronous = NORMAL");
  db.exec(SCHEMA);
  const walSync = createWalSync(path, "spool bodies");
  const st = {
    insert: db.prepare("INSERT OR REPLACE INTO bodies (id, data) VALUES (?, ?)"),
    get: db.prepare("SELECT data FROM bodies WHERE id = ?").pluck(),
    remove: db.prepare("DELETE FROM bodies WHERE id = ?"),
    page: db.prepare("SELECT id FROM bodies WHERE id > ? ORDER BY id LIMIT ?").pluck(),
  };

  let pending: { id: string; data: Buffer; resolve: () => void; reject: (err: unknown) => void }[] = [];
  const insertGroup = db.transaction((group: typeof pending) => {
    for (const p of group) st.insert.run(p.id, p.data);
  });
  function commit() {
    const group = pending;
    pending = [];
    try {
      insertGroup(group);
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    walSync().then(
      () => {
        for (const p of group) p.resolve();
      },
      (err) => {
        // Written but not known to be durable: the caller refuses the message, so the copy must not stay.
        for (const p of group) {
          try {
            st.remove.run(p.id);
          } catch {
            // failing storage; the orphan sweep removes it later
          }
          p.reject(err);
        }
      },
    );
  }

  // No fsync: a delete lost to a power cut leaves an orphan that the garbage collector's sweep removes.
  const deleteInTurn = perTurn(eachInSavepoint(db, (id: string) => st.remove.run(id).changes > 0));

  return {
    put: (id, data) =>
      new Promise((resolve, reject) => {
        pending.push({ id, data, resolve, reject });
        if (pending.length === 1) setImmediate(commit);
      }),
    get: (id) => st.get.get(id) as Buffer | undefined,
    delete: (id) => deleteInTurn(id),
    async *ids() {
      let after = "";
      for (;;) {
        const page = st.page.all(after, PAGE) as string[];
        for (const id of page) yield id;
        if (page.length < PAGE) return;
        after = page.at(-1)!;
      }
    },
    async close() {
      if (!db.open) return;
      await walSync.close();
      db.close();
    },
  };
}
