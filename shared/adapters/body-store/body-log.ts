// Small message bodies of the local spool, appended to segment files (`<spool>/log/*.seg`): each body is written
// once, and the puts arriving together share one write that is durable when it returns (O_DSYNC; group commit).
//
// bodies.sqlite (legacy-bodies.ts, which this replaces for new bodies) wrote every body twice — into the WAL, then
// into the database at a checkpoint — checksummed and copied it on the event loop's thread, and cost ~1.2 ms of CPU
// per 100 KB message (issue 9). Here the event loop builds a 20-byte header and a CRC-32; the write runs on libuv's
// thread pool, and with O_DSYNC it is one trip there rather than two (write, then fdatasync): a put is acknowledged
// one turn of the event loop sooner. Where each body is lives in memory (~180 bytes per body), rebuilt from the
// segments' headers when the log opens. A delete appends a tombstone (written in the background: one lost to a crash
// comes back as an orphan, which the garbage collector's sweep removes). A segment whose bodies are all gone is
// unlinked; one mostly gone is compacted (its remaining bodies appended again, durably, before it is unlinked), so
// the log's size follows what it holds.
import { constants, mkdirSync } from "node:fs";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import {
  dataCrc,
  encodeHeader,
  RECORD_BODY,
  RECORD_TOMBSTONE,
  scanSegment,
  segmentName,
  segmentSeqs,
} from "./body-log-format.ts";
import { lockSpool } from "./spool-lock.ts";
import { writeAll } from "./write-all.ts";

/** "wx+" and O_DSYNC: each write returns once its data (and the file's new size) is on disk. */
const WRITE_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_DSYNC;

export interface BodyLogOptions {
  /** A segment takes appends until it is this large. */
  segmentBytes?: number;
  /** A closed segment whose bodies fill less than this share of it is compacted. */
  compactBelow?: number;
}

export interface BodyLog {
  /** Appends the body; resolves once it is durable. */
  put(id: string, data: Buffer): Promise<void>;
  get(id: string): Promise<Buffer | undefined>;
  /** Forgets the body at once (true when it was here); its tombstone is written in the background. */
  delete(id: string): boolean;
  ids(): string[];
  close(): Promise<void>;
}

interface Segment {
  seq: number;
  path: string;
  /** Bytes of valid records: where the next append goes while this is the active segment. */
  size: number;
  sealed: boolean;
  live: Set<string>;
  liveBytes: number;
  handle?: Promise<FileHandle>;
  reads: number;
  gone: boolean;
}

interface Location {
  segment: Segment;
  dataOffset: number;
  length: number;
  crc: number;
  recordBytes: number;
}

interface Append {
  head: Buffer;
  data: Buffer;
  durable: boolean;
  resolve: (at: { segment: Segment; offset: number }) => void;
  reject: (err: unknown) => void;
}

const EMPTY = Buffer.alloc(0);

export async function openBodyLog(dir: string, options: BodyLogOptions = {}): Promise<BodyLog> {
  const segmentBytes = options.segmentBytes ?? 32 * 1024 * 1024;
  const compactBelow = options.compactBelow ?? 0.5;
  mkdirSync(dir, { recursive: true });
  const unlock = lockSpool(dir);
  const dirHandle = await open(dir, "r").catch((err) => {
    unlock();
    throw err;
  });
  const segments = new Map<number, Segment>();
  const index = new Map<string, Location>();
  let loaded = false;
  let closing = false;
  const toCompact = new Set<Segment>();
  let compacting: Promise<void> | undefined;

  const forget = (id: string, loc: Location) => {
    index.delete(id);
    loc.segment.live.delete(id);
    loc.segment.liveBytes -= loc.recordBytes;
    reclaim(loc.segment);
  };
  const place = (id: string, loc: Location) => {
    const old = index.get(id);
    if (old) forget(id, old);
    index.set(id, loc);
    loc.segment.live.add(id);
    loc.segment.liveBytes += loc.recordBytes;
  };
  const segmentOf = (seq: number, size: number, sealed: boolean): Segment => {
    const path = join(dir, segmentName(seq));
    const segment: Segment = { seq, path, size, sealed, live: new Set(), liveBytes: 0, reads: 0, gone: false };
    segments.set(seq, segment);
    return segment;
  };

  // Rebuild the index: later records win, so a compacted copy replaces its original and a tombstone ends a body.
  for (const seq of segmentSeqs(dir)) {
    const { records, end } = scanSegment(join(dir, segmentName(seq)));
    const segment = segmentOf(seq, end, true);
    for (const r of records) {
      if (r.kind === RECORD_TOMBSTONE) {
        const loc = index.get(r.id);
        if (loc) forget(r.id, loc);
      } else if (r.kind === RECORD_BODY) {
        const recordBytes = r.dataOffset - r.offset + r.dataLength;
        place(r.id, { segment, dataOffset: r.dataOffset, length: r.dataLength, crc: r.dataCrc, recordBytes });
      }
    }
  }
  let nextSeq = Math.max(0, ...segments.keys()) + 1;
  let active: Segment | undefined;

  // --- appends: one writer, groups of what arrived meanwhile, one synchronous (O_DSYNC) write per group ---
  let queue: Append[] = [];
  let writing = false;
  let idle = Promise.resolve();
  const append = (head: Buffer, data: Buffer, durable: boolean) =>
    new Promise<{ segment: Segment; offset: number }>((resolve, reject) => {
      if (closing && durable) return reject(new Error("body log is closed"));
      queue.push({ head, data, durable, resolve, reject });
      startWriter();
    });
  function startWriter() {
    if (writing) return;
    writing = true;
    // The first append of a turn waits for the rest of the turn, so they share a write and a sync.
    idle = new Promise((done) =>
      setImmediate(() =>
        writeGroups().finally(() => {
          writing = false;
          done();
          if (queue.length) startWriter(); // appended after the loop's last look
        }),
      ),
    );
  }

  async function writeGroups() {
    while (queue.length) {
      const group = queue;
      queue = [];
      try {
        const segment = await writableSegment();
        const handle = await segment.handle!;
        const start = segment.size;
        const chunks: Buffer[] = [];
        const offsets: number[] = [];
        let at = start;
        for (const a of group) {
          offsets.push(at);
          chunks.push(a.head);
          if (a.data.length) chunks.push(a.data);
          at += a.head.length + a.data.length;
        }
        await writeAll(handle, chunks, start);
        segment.size = at;
        group.forEach((a, i) => {
          a.resolve({ segment, offset: offsets[i]! });
        });
      } catch (err) {
        // The segment may now end in a torn group: what comes next goes to a new one, so every record that was
        // acknowledged stays before the tear (the scan stops there).
        if (active) seal(active);
        active = undefined;
        for (const a of group) a.reject(err);
      }
    }
  }

  async function writableSegment(): Promise<Segment> {
    if (active && active.size < segmentBytes) return active;
    if (active) seal(active);
    const segment = segmentOf(nextSeq++, 0, false);
    segment.handle = open(segment.path, WRITE_FLAGS, 0o600);
    active = segment;
    await segment.handle;
    await dirHandle.sync(); // the new name must survive a power loss before any body in it is acknowledged
    return segment;
  }

  function seal(segment: Segment) {
    segment.sealed = true;
    reclaim(segment);
  }

  // --- reclaiming space: unlink segments with nothing left, compact those with little left ---

  function reclaim(segment: Segment) {
    if (!loaded || !segment.sealed || segment.gone) return;
    if (segment.live.size === 0) {
      segment.gone = true;
      segments.delete(segment.seq);
      toCompact.delete(segment);
      unlink(segment.path).catch(() => {}); // a read in progress keeps its descriptor; the data goes when it closes
      closeWhenIdle(segment);
    } else if (segment.liveBytes < segment.size * compactBelow && !closing) {
      toCompact.add(segment);
      compacting ??= compactAll().finally(() => {
        compacting = undefined;
      });
    }
  }

  async function compactAll() {
    for (const segment of toCompact) {
      toCompact.delete(segment);
      const ids = [...segment.live];
      for (let i = 0; i < ids.length && !closing; i += 64) {
        await Promise.all(ids.slice(i, i + 64).map((id) => move(id, segment)));
      }
      if (closing) return;
    }
  }

  async function move(id: string, from: Segment) {
    const loc = index.get(id);
    if (!loc || loc.segment !== from) return;
    const data = await readAt(loc).catch(() => undefined); // a damaged body stays where it is, for get to report
    if (!data) return;
    const head = encodeHeader(RECORD_BODY, id, data, loc.crc);
    const at = await append(head, data, true).catch(() => undefined);
    if (!at) return;
    if (index.get(id) === loc) place(id, locationOf(at, head, data, loc.crc));
    else if (!index.has(id)) void append(encodeHeader(RECORD_TOMBSTONE, id, EMPTY, 0), EMPTY, false).catch(() => {});
  }

  const locationOf = (at: { segment: Segment; offset: number }, head: Buffer, data: Buffer, crc: number) => ({
    segment: at.segment,
    dataOffset: at.offset + head.length,
    length: data.length,
    crc,
    recordBytes: head.length + data.length,
  });

  // --- reads ---
  async function readAt(loc: Location): Promise<Buffer> {
    const segment = loc.segment;
    segment.reads++;
    try {
      segment.handle ??= open(segment.path, "r");
      const handle = await segment.handle;
      const data = Buffer.allocUnsafe(loc.length);
      let done = 0;
      while (done < loc.length) {
        const { bytesRead } = await handle.read(data, done, loc.length - done, loc.dataOffset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      if (done !== loc.length || dataCrc(data) !== loc.crc) {
        throw Object.assign(new Error(`body log ${segment.path}: a body at ${loc.dataOffset} is damaged`), {
          code: "EBADMSG",
        });
      }
      return data;
    } finally {
      segment.reads--;
      if (segment.gone) closeWhenIdle(segment);
    }
  }

  function closeWhenIdle(segment: Segment) {
    if (segment.reads > 0 || !segment.handle) return;
    const handle = segment.handle;
    segment.handle = undefined;
    handle.then((h) => h.close()).catch(() => {});
  }

  // Segments the index left empty or sparse are reclaimed once everything is in place.
  loaded = true;
  for (const segment of [...segments.values()]) reclaim(segment);

  return {
    async put(id, data) {
      const crc = dataCrc(data);
      const head = encodeHeader(RECORD_BODY, id, data, crc);
      place(id, locationOf(await append(head, data, true), head, data, crc));
    },
    async get(id) {
      const loc = index.get(id);
      return loc ? readAt(loc) : undefined;
    },
    delete(id) {
      const loc = index.get(id);
      if (!loc) return false;
      forget(id, loc);
      void append(encodeHeader(RECORD_TOMBSTONE, id, EMPTY, 0), EMPTY, false).catch(() => {});
      return true;
    },
    ids: () => [...index.keys()],
    async close() {
      if (closing) return;
      closing = true;
      await compacting;
      while (writing) await idle;
      for (const segment of segments.values()) await (await segment.handle?.catch(() => undefined))?.close();
      await dirHandle.close();
      unlock();
    },
  };
}
