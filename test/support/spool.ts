// What a local spool holds: body files (`*.eml`, `*.tmp` while written), the small bodies in the body log, and those
// in bodies.sqlite (spools written before the body log).
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { liveIds } from "../../shared/adapters/body-store/body-log-format.ts";

/** Paths of the spool's body files, plus `log#<id>` per body in the log and `bodies.sqlite#<id>` per one there. */
export function spoolContents(spoolDir: string): string[] {
  if (!existsSync(spoolDir)) return [];
  const logDir = join(spoolDir, "log");
  const files = readdirSync(spoolDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith("bodies.sqlite") && e.parentPath !== logDir)
    .map((e) => join(e.parentPath, e.name));
  const logged = existsSync(logDir) ? liveIds(logDir).map((id) => `log#${id}`) : [];
  const db = join(spoolDir, "bodies.sqlite");
  if (!existsSync(db)) return [...files, ...logged];
  // A second connection in WAL mode reads what the relay committed, while the relay keeps running.
  const reader = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const ids = reader.prepare("SELECT id FROM bodies ORDER BY id").pluck().all() as string[];
    return [...files, ...logged, ...ids.map((id) => `bodies.sqlite#${id}`)];
  } finally {
    reader.close();
  }
}
