// One process owns a spool directory: a pid file taken when a store opens it, and whether a pid still runs.
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Directories this process holds, so a second store in the same process is refused as well. */
const heldHere = new Set<string>();

/**
 * Takes `<dir>/owner.pid`, or throws when a live process holds it. A file left by a process that died (kill -9, power
 * loss) is taken over; so is one naming our own pid that this process does not hold (a container restarted as pid 1).
 * Returns the release function.
 */
export function lockSpool(dir: string): () => void {
  const path = join(dir, "owner.pid");
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      heldHere.add(dir);
      return () => {
        heldHere.delete(dir);
        try {
          unlinkSync(path);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw err;
      const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
      const held = pid === process.pid ? heldHere.has(dir) : Number.isInteger(pid) && isAlive(pid);
      if (held) throw new Error(`spool ${dir} is in use by process ${pid} (one process owns a spool)`);
      unlinkSync(path);
    }
  }
}

/** Whether a process of this host runs under `pid` (the spool is a local directory; a reused pid keeps the file). */
export function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
