// What a local spool holds: body files (`*.eml`, `*.tmp` while written) and the small bodies in bodies.sqlite.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";

/** Paths of the spool's files, except bodies.sqlite itself, plus `bodies.sqlite#<id>` per small body in it. */
export function spoolContents(spoolDir: string): string[] {
  if (!existsSync(spoolDir)) return [];
  const files = readdirSync(spoolDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith("bodies.sqlite"))
    .map((e) => join(e.parentPath, e.name));
  const db = join(spoolDir, "bodies.sqlite");
  if (!existsSync(db)) return files;
  // A second connection in WAL mode reads what the relay committed, while the relay keeps running.
  const reader = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const ids = reader.prepare("SELECT id FROM bodies ORDER BY id").pluck().all() as string[];
    return [...files, ...ids.map((id) => `bodies.sqlite#${id}`)];
  } finally {
    reader.close();
  }
}
