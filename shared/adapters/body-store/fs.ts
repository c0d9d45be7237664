// BodyStore on the local disk: one file per body in a spool directory, fsynced (file and directory) before put resolves.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, opendir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BodyStore } from "../../ports/body-store.ts";

const ID_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;
/** After a write fails for lack of space, report unhealthy for this long so intake answers 4xx at once. */
const SICK_AFTER_ERROR_MS = 30_000;
/** `<id>.eml.<pid>.tmp`: a body being written, by that process. */
const TEMP_PATTERN = /\.eml\.(\d+)\.tmp$/;
/** A temp file this old has no writer left, whoever it was (a write never takes an hour). */
const STALE_TEMP_MS = 60 * 60 * 1000;

export async function createFsBodyStore(options: { dir: string }): Promise<BodyStore> {
  const root = options.dir;
  await mkdir(root, { recursive: true });
  // A process killed during a write (kill -9, power loss) leaves its temp file behind: never a body, only waste.
  await sweepTemps(root, (pid, age) => !isAlive(pid) || age > STALE_TEMP_MS);
  let sickUntil = 0;
  let sickReason = "";

  // Two hex-ish characters of fan-out keep directories small with millions of bodies.
  const pathOf = (id: string) => {
    if (!ID_PATTERN.test(id)) throw new Error(`invalid body id ${JSON.stringify(id)}`);
    return join(root, id.slice(-2), `${id}.eml`);
  };

  async function fsyncPath(path: string, flags: "r" | "r+") {
    const handle = await open(path, flags);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  return {
    async put(id, body) {
      const final = pathOf(id);
      const temp = `${final}.${process.pid}.tmp`;
      // The source may fail before we attach the pipeline; pipeline() still sees its stored error.
      const noteEarlyError = () => {};
      body.once("error", noteEarlyError);
      let size = 0;
      try {
        await mkdir(dirname(final), { recursive: true });
        const out = createWriteStream(temp, { mode: 0o600 });
        await pipeline(body, out);
        size = out.bytesWritten;
        // fsync through a second descriptor: on Linux it flushes the inode's pages whoever wrote them.
        await fsyncPath(temp, "r+");
      } catch (err) {
        await rm(temp, { force: true });
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOSPC" || code === "EDQUOT" || code === "EROFS" || code === "EIO") {
          sickUntil = Date.now() + SICK_AFTER_ERROR_MS;
          sickReason = `spool ${root}: ${code}`;
        }
        throw err;
      } finally {
        body.off("error", noteEarlyError);
      }
      await rename(temp, final);
      // The rename is durable only once the directory entry is on disk.
      await fsyncPath(dirname(final), "r");
      return { size };
    },

    async get(id) {
      const stream = createReadStream(pathOf(id));
      // Surface ENOENT as a rejection rather than a later stream error.
      await new Promise<void>((resolve, reject) => {
        stream.once("open", () => resolve());
        stream.once("error", reject);
      });
      return stream as Readable;
    },

    async delete(id) {
      await rm(pathOf(id), { force: true });
    },

    async *list() {
      await sweepTemps(root, (_pid, age) => age > STALE_TEMP_MS);
      const top = await opendir(root);
      for await (const bucket of top) {
        if (!bucket.isDirectory()) continue;
        for await (const entry of await opendir(join(root, bucket.name))) {
          if (entry.isFile() && entry.name.endsWith(".eml")) yield entry.name.slice(0, -4);
        }
      }
    },

    unhealthyReason() {
      return Date.now() < sickUntil ? sickReason : undefined;
    },

    async close() {},
  };
}

/** Removes the temp files of writers that `isDead(pid, ageMs)` says are gone. */
async function sweepTemps(root: string, isDead: (pid: number, ageMs: number) => boolean) {
  for await (const bucket of await opendir(root)) {
    if (!bucket.isDirectory()) continue;
    const dir = join(root, bucket.name);
    for await (const entry of await opendir(dir)) {
      const match = TEMP_PATTERN.exec(entry.name);
      if (!match) continue;
      const path = join(dir, entry.name);
      const age = await stat(path).then(
        (s) => Date.now() - s.mtimeMs,
        () => undefined,
      );
      if (age !== undefined && isDead(Number(match[1]), age)) await rm(path, { force: true });
    }
  }
}

/** Whether a process of this host runs under `pid` (the spool is a local directory; a reused pid keeps the file). */
function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
