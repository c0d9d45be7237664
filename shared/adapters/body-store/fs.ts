// BodyStore on the local disk: a spool directory with one file per large body, fsynced (file and directory) before put
// resolves, and the small bodies appended to the body log (`log/`, body-log.ts), durable the same way.
import { constants, createReadStream, existsSync } from "node:fs";
import { type FileHandle, mkdir, open, opendir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, Writable } from "node:stream";
import type { BodyStore } from "../../ports/body-store.ts";
import { pipeStreams } from "../../streams/pipe-streams.ts";
import { openBodyLog } from "./body-log.ts";
import { type LegacyBodies, openLegacyBodies } from "./legacy-bodies.ts";
import { isAlive } from "./spool-lock.ts";
import { writeAll } from "./write-all.ts";

const ID_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;
/** After a write fails for lack of space, report unhealthy for this long so intake answers 4xx at once. */
const SICK_AFTER_ERROR_MS = 30_000;
/** `<id>.eml.<pid>.tmp`: a body being written, by that process. */
const TEMP_PATTERN = /\.eml\.(\d+)\.tmp$/;
/** A temp file this old has no writer left, whoever it was (a write never takes an hour). */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** Bodies up to this size go into the body log rather than a file of their own; those this process wrote are also
 * kept in memory for the sender (see `recent`). */
const INLINE_MAX = 256 * 1024;
const KEEP_TOTAL_MAX = 32 * 1024 * 1024;

export async function createFsBodyStore(options: { dir: string }): Promise<BodyStore> {
  const root = options.dir;
  await mkdir(root, { recursive: true });
  // A process killed during a write (kill -9, power loss) leaves its temp file behind: never a body, only waste.
  await sweepTemps(root, (pid, age) => !isAlive(pid) || age > STALE_TEMP_MS);
  // One process owns the spool: the body log takes its lock (a second relay on the same directory fails here).
  const log = await openBodyLog(join(root, "log"));
  // Spools written before the body log keep their small bodies in bodies.sqlite until those are delivered.
  const legacyPath = join(root, "bodies.sqlite");
  const legacy: LegacyBodies | undefined = existsSync(legacyPath) ? openLegacyBodies(legacyPath) : undefined;
  let sickUntil = 0;
  let sickReason = "";

  // Two hex-ish characters of fan-out keep directories small with millions of bodies.
  const pathOf = (id: string) => {
    if (!ID_PATTERN.test(id)) throw new Error(`invalid body id ${JSON.stringify(id)}`);
    return join(root, id.slice(-2), `${id}.eml`);
  };

  // Each thread-pool round trip costs the event loop and two context switches: a put used to take eleven (mkdir,
  // open, write, close, open, fsync, close, rename, open, fsync, close); a small one now takes five in four steps
  // (open, one O_DSYNC write, close with rename, the directory's fsync, which concurrent puts share).
  const made = new Set<string>();
  const syncDir = createDirSync();
  // The sender reads a body moments after intake wrote it: from memory that is no thread-pool round trip at all
  // (a file read is four: open, read, read to the end, close). Bounded; the oldest go first.
  const recent = new Map<string, Buffer>();
  let recentBytes = 0;
  const keep = (id: string, body: Buffer) => {
    recent.set(id, body);
    recentBytes += body.length;
    for (const [old, kept] of recent) {
      if (recentBytes <= KEEP_TOTAL_MAX) break;
      recent.delete(old);
      recentBytes -= kept.length;
    }
  };
  const forget = (id: string) => {
    const kept = recent.get(id);
    if (kept) recentBytes -= kept.length;
    recent.delete(id);
  };
  const openTemp = async (temp: string, dir: string, flags: number) => {
    return open(temp, flags, 0o600).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
      // The bucket was removed behind our back (an operator's cleanup): make it again, with a fresh handle.
      made.delete(dir);
      await syncDir.forget(dir);
      await mkdir(dir, { recursive: true });
      made.add(dir);
      return open(temp, flags, 0o600);
    });
  };

  const smallBody = async (id: string) => (await log.get(id)) ?? legacy?.get(id);

  return {
    async put(id, body) {
      const final = pathOf(id);
      const temp = `${final}.${process.pid}.tmp`;
      // The source may fail before we attach the pipeline; pipeStreams() still sees its stored error.
      const noteEarlyError = () => {};
      body.once("error", noteEarlyError);
      let size = 0;
      const dir = dirname(final);
      let file: FileHandle | undefined;
      try {
        if (!made.has(dir)) {
          await mkdir(dir, { recursive: true });
          made.add(dir);
        }
        const out = new FileSink(async (dsync) => {
          file = await openTemp(temp, dir, WRITE_FLAGS | (dsync ? constants.O_DSYNC : 0));
          return file;
        }, INLINE_MAX);
        await pipeStreams(body, out);
        if (out.inline) {
          await log.put(id, out.inline);
          keep(id, out.inline);
          return { size: out.inline.length };
        }
        size = out.bytesWritten;
        // The data and the file's size (a body written in one O_DSYNC write already is); the name is made durable below.
        if (!out.synced) await file!.datasync();
        await Promise.all([file!.close(), rename(temp, final)]);
        file = undefined;
      } catch (err) {
        await file?.close().catch(() => {});
        await rm(temp, { force: true });
        const code = (err as NodeJS.ErrnoException).code ?? "";
        if (/^(ENOSPC|EDQUOT|EROFS|EIO|SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT))/.test(code)) {
          sickUntil = Date.now() + SICK_AFTER_ERROR_MS;
          sickReason = `spool ${root}: ${code}`;
        }
        throw err;
      } finally {
        body.off("error", noteEarlyError);
      }
      // The rename is durable only once the directory entry is on disk.
      await syncDir(dir);
      return { size };
    },

    async get(id) {
      const kept = recent.get(id) ?? (ID_PATTERN.test(id) ? await smallBody(id) : undefined);
      if (kept) return Readable.from([kept], { objectMode: false });
      const stream = createReadStream(pathOf(id));
      // Surface ENOENT as a rejection rather than a later stream error.
      await new Promise<void>((resolve, reject) => {
        stream.once("open", () => resolve());
        stream.once("error", reject);
      });
      return stream as Readable;
    },

    async delete(id) {
      forget(id);
      if (ID_PATTERN.test(id) && (log.delete(id) || (await legacy?.delete(id)))) return;
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
      yield* log.ids();
      if (legacy) yield* legacy.ids();
    },

    unhealthyReason() {
      return Date.now() < sickUntil ? sickReason : undefined;
    },

    async close() {
      recent.clear();
      await syncDir.close();
      await log.close();
      await legacy?.close();
    },
  };
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC;

/**
 * Holds a body back while it may still end within `inlineMax` bytes (then it is `inline`, and no file is made);
 * past that, writes it to a file in few system calls: what was held goes in one writev, then chunks gathered up to
 * 16 KiB each, so a long body is on its way to disk while it streams in. The file is opened at the first write: a
 * body written in one write gets O_DSYNC, durable when the write returns, with no fdatasync after it (`synced`).
 */
class FileSink extends Writable {
  bytesWritten = 0;
  synced = false;
  /** The whole body, when it ended within `inlineMax` bytes: then no file was made. */
  inline: Buffer | undefined;
  private inlineOk = true;
  private file: FileHandle | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly openFile: (dsync: boolean) => Promise<FileHandle>,
    private readonly inlineMax: number,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void) {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.inlineOk) {
      // Held back while the body may still end small enough to go inline; past that, written as it comes.
      if (this.pendingBytes <= this.inlineMax) return done();
      this.inlineOk = false;
    }
    if (this.pendingBytes < 16 * 1024) return done();
    this.flush(false).then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void) {
    if (this.inlineOk) {
      this.inline = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      this.pending = [];
      return done();
    }
    this.flush(true).then(() => done(), done);
  }

  private async flush(last: boolean) {
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    if (!this.file) {
      // One write for the whole body (and not an empty one): O_DSYNC makes it durable by itself.
      this.synced = last && bytes > 0;
      this.file = await this.openFile(this.synced);
    }
    this.bytesWritten += await writeAll(this.file, chunks);
  }
}

/**
 * fsync of spool directories, shared: renames into a directory while its fsync runs wait for the next one, which
 * then covers them all. Directory handles stay open (at most one per fan-out bucket, 256).
 */
function createDirSync(): ((dir: string) => Promise<void>) & {
  forget(dir: string): Promise<void>;
  close(): Promise<void>;
} {
  const handles = new Map<string, Promise<FileHandle>>();
  const state = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();
  const handleOf = (dir: string) => {
    let h = handles.get(dir);
    if (!h) {
      h = open(dir, "r");
      handles.set(dir, h);
      h.catch(() => handles.delete(dir));
    }
    return h;
  };
  const sync = (dir: string): Promise<void> => {
    const st = state.get(dir) ?? {};
    state.set(dir, st); // one entry per bucket, like the handles
    if (!st.running) {
      st.running = handleOf(dir)
        .then((h) => h.sync())
        .finally(() => {
          st.running = undefined;
        });
      return st.running;
    }
    // The running fsync may have started before the caller's rename: the caller waits for the one after it.
    st.next ??= st.running
      .catch(() => {})
      .then(() => {
        st.next = undefined;
        return sync(dir);
      });
    return st.next;
  };
  const forget = async (dir: string) => {
    const h = handles.get(dir);
    handles.delete(dir);
    await (await h?.catch(() => undefined))?.close();
  };
  return Object.assign(sync, {
    forget,
    async close() {
      for (const dir of [...handles.keys()]) await forget(dir);
    },
  });
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
