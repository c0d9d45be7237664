// Writes every byte of a list of buffers with writev, for the spool's body files and the body log.
import type { FileHandle } from "node:fs/promises";

/**
 * writev may write less than asked (a full disk): go on from where it stopped, or fail with its error. At
 * `position` when given, else at the file's current offset. Returns the bytes written (all of them).
 */
export async function writeAll(handle: FileHandle, chunks: Buffer[], position?: number): Promise<number> {
  let total = 0;
  for (const c of chunks) total += c.length;
  let written = 0;
  while (written < total) {
    const rest = written === 0 ? chunks : skipBytes(chunks, written);
    const { bytesWritten } = await handle.writev(rest, position === undefined ? undefined : position + written);
    if (bytesWritten === 0) throw new Error("writev wrote nothing");
    written += bytesWritten;
  }
  return written;
}

/** The chunks after their first `skip` bytes. */
function skipBytes(chunks: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (skip >= c.length) {
      skip -= c.length;
      continue;
    }
    out.push(skip ? c.subarray(skip) : c);
    skip = 0;
  }
  return out;
}
