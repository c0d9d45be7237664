// Durable commits for SQLite in WAL mode without blocking the event loop (the local queue, the spool's small bodies).
import { closeSync, existsSync, fdatasync, openSync } from "node:fs";

/**
 * fdatasync of a SQLite database's WAL file on libuv's thread pool, coalesced: callers that arrive while one runs share
 * the next. On Linux an fsync flushes the file's dirty pages whichever descriptor wrote them, so this makes every
 * transaction committed before the call durable, as synchronous=FULL would at COMMIT. SQLite deletes the WAL only
 * when the database closes, so the descriptor stays on the live file. An in-memory database has nothing to sync.
 */
export function createWalSync(dbPath: string, what: string): (() => Promise<void>) & { close(): Promise<void> } {
  const walPath = `${dbPath}-wal`;
  if (dbPath === ":memory:" || dbPath === "") return Object.assign(() => Promise.resolve(), { close: async () => {} });
  // WAL mode creates the file when the database is opened; without it no commit could be made durable.
  if (!existsSync(walPath)) throw new Error(`${what}: ${walPath} missing (WAL mode expected)`);
  const fd = openSync(walPath, "r");
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const syncNow = () => new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  const sync = (): Promise<void> => {
    if (!running) {
      running = syncNow().finally(() => {
        running = undefined;
      });
      return running;
    }
    // One is running: it may have started before the caller's commit, so the caller waits for the one after it.
    next ??= running
      .catch(() => {})
      .then(() => {
        next = undefined;
        return sync();
      });
    return next;
  };
  return Object.assign(sync, {
    async close() {
      await next?.catch(() => {});
      await running?.catch(() => {});
      closeSync(fd);
    },
  });
}
