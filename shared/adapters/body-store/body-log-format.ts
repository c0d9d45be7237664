// The on-disk format of the spool's body log (body-log.ts): segment files of records, each a body or a tombstone.
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";

/** "ZRBL" read as a little-endian u32: the first bytes of every record. */
const MAGIC = 0x4c42525a;
export const RECORD_BODY = 1;
export const RECORD_TOMBSTONE = 2;
/** magic u32 · kind u8 · id length u8 · 0 u16 · data length u32 · crc32 of the data · crc32 of the bytes before it and the id. */
export const HEADER_BYTES = 20;
const SEGMENT_NAME = /^(\d{10})\.seg$/;

export const segmentName = (seq: number) => `${String(seq).padStart(10, "0")}.seg`;

/** Sequence numbers of a log directory's segments, oldest first. */
export function segmentSeqs(dir: string): number[] {
  return readdirSync(dir)
    .map((name) => SEGMENT_NAME.exec(name))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** The header and id of a record; the data follows them. */
export function encodeHeader(kind: number, id: string, data: Buffer, dataCrc: number): Buffer {
  const idLength = Buffer.byteLength(id, "latin1");
  if (idLength > 255) throw new Error(`body id too long for the log: ${id.length} characters`);
  const head = Buffer.allocUnsafe(HEADER_BYTES + idLength);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt8(idLength, 5);
  head.writeUInt16LE(0, 6);
  head.writeUInt32LE(data.length, 8);
  head.writeUInt32LE(dataCrc, 12);
  head.write(id, HEADER_BYTES, "latin1");
  head.writeUInt32LE(headerCrc(head, idLength), 16);
  return head;
}

function headerCrc(head: Buffer, idLength: number): number {
  return crc32(head.subarray(HEADER_BYTES, HEADER_BYTES + idLength), crc32(head.subarray(0, 16)));
}

export const dataCrc = (data: Buffer) => crc32(data);

export interface ScannedRecord {
  kind: number;
  id: string;
  /** Where the record starts, and where its data starts. */
  offset: number;
  dataOffset: number;
  dataLength: number;
  dataCrc: number;
}

const WINDOW = 1024 * 1024;

/**
 * The records of one segment, in order, reading only their headers (a window at a time, so a segment of small
 * records costs a few reads, and one of large records a read per record). Stops at the first record that is not
 * whole: a crash can leave a torn tail after the last fdatasync, and every acknowledged record lies before it.
 * `end` is where the valid records end.
 */
export function scanSegment(path: string): { records: ScannedRecord[]; end: number } {
  const fd = openSync(path, "r");
  try {
    const records: ScannedRecord[] = [];
    const window = Buffer.allocUnsafe(WINDOW);
    let windowStart = 0;
    let windowLength = 0;
    let offset = 0;
    const load = (at: number) => {
      windowStart = at;
      windowLength = readSync(fd, window, 0, WINDOW, at);
    };
    load(0);
    for (;;) {
      if (offset + HEADER_BYTES + 255 > windowStart + windowLength && windowLength === WINDOW) load(offset);
      const at = offset - windowStart;
      if (at + HEADER_BYTES > windowLength) break;
      if (window.readUInt32LE(at) !== MAGIC) break;
      const idLength = window.readUInt8(at + 5);
      if (at + HEADER_BYTES + idLength > windowLength) break;
      const head = window.subarray(at, at + HEADER_BYTES + idLength);
      if (head.readUInt32LE(16) !== headerCrc(head, idLength)) break;
      const dataOffset = offset + HEADER_BYTES + idLength;
      const dataLength = head.readUInt32LE(8);
      const next = dataOffset + dataLength;
      // The data must be all there; beyond the window, ask the file how long it is.
      if (next > windowStart + windowLength && readSync(fd, Buffer.alloc(1), 0, 1, next - 1) !== 1) break;
      records.push({
        kind: head.readUInt8(4),
        id: head.toString("latin1", HEADER_BYTES, HEADER_BYTES + idLength),
        offset,
        dataOffset,
        dataLength,
        dataCrc: head.readUInt32LE(12),
      });
      offset = next;
    }
    return { records, end: offset };
  } finally {
    closeSync(fd);
  }
}

/** Ids with a body in the log directory: bodies not followed by a tombstone (for tests and tools; no lock taken). */
export function liveIds(dir: string): string[] {
  const live = new Set<string>();
  for (const seq of segmentSeqs(dir)) {
    for (const r of scanSegment(join(dir, segmentName(seq))).records) {
      if (r.kind === RECORD_BODY) live.add(r.id);
      else live.delete(r.id);
    }
  }
  return [...live].sort();
}
