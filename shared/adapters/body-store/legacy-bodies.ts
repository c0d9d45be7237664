// The small bodies of spools written before the body log: `bodies.sqlite`, read and emptied as those messages leave.
//
// Releases up to the body log kept bodies up to 256 KiB in this SQLite file; a relay upgraded with mail still queued
// must deliver it. Nothing new is written here (body-log.ts took over, issue 9); the file is opened only if it exists.
import Database from "better-sqlite3";
import { eachInSavepoint, perTurn } from "../sqlite-per-turn.ts";

export const LEGACY_BODIES_SCHEMA = "CREATE TABLE IF NOT EXISTS bodies (id TEXT PRIMARY KEY, data BLOB NOT NULL)";
const PAGE = 500;

export interface LegacyBodies {
  get(id: string): Buffer | undefined;
  /** Removes the body; true when it was here. Deletes of one turn share a transaction. */
  delete(id: string): Promise<boolean>;
  /** Every id held, a page at a time (so writes can go on between pages). */
  ids(): AsyncIterable<string>;
  close(): Promise<void>;
}

export function openLegacyBodies(path: string): LegacyBodies {
  const db = new Database(path, { timeout: 5000, fileMustExist: true });
  db.pragma("journal_mode = WAL");
  // No fsync for deletes: one lost to a power cut leaves an orphan that the garbage collector's sweep removes.
  db.pragma("synchronous = NORMAL");
  db.exec(LEGACY_BODIES_SCHEMA);
  const st = {
    get: db.prepare("SELECT data FROM bodies WHERE id = ?").pluck(),
    remove: db.prepare("DELETE FROM bodies WHERE id = ?"),
    page: db.prepare("SELECT id FROM bodies WHERE id > ? ORDER BY id LIMIT ?").pluck(),
  };
  const deleteInTurn = perTurn(eachInSavepoint(db, (id: string) => st.remove.run(id).changes > 0));

  return {
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
      if (db.open) db.close();
    },
  };
}
