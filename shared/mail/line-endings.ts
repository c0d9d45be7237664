// Normalises line endings to CRLF while streaming, so nothing we store or send has a bare LF or CR (RFC 5322 §2.3).
import { Transform, type TransformCallback } from "node:stream";

const CR = 0x0d;
const LF = 0x0a;

export class CrlfNormalizer extends Transform {
  /** The previous chunk ended in CR: its LF may start the next chunk. */
  private pendingCr = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    // Fast path: the usual input already uses CRLF everywhere.
    if (!this.pendingCr && isCleanCrlf(chunk)) {
      done(null, chunk);
      return;
    }
    let start = 0;
    const parts: Buffer[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (this.pendingCr) {
        this.pendingCr = false;
        if (byte === LF) {
          start = i + 1; // CRLF split across chunks: CR already emitted as CRLF below
          continue;
        }
      }
      if (byte === CR) {
        parts.push(chunk.subarray(start, i), CRLF_BUF);
        if (i + 1 < chunk.length) {
          if (chunk[i + 1] === LF) i++;
        } else {
          this.pendingCr = true;
        }
        start = i + 1;
      } else if (byte === LF) {
        parts.push(chunk.subarray(start, i), CRLF_BUF);
        start = i + 1;
      }
    }
    parts.push(chunk.subarray(start));
    done(null, Buffer.concat(parts));
  }
}

const CRLF_BUF = Buffer.from("\r\n");

/** True when every CR is followed by LF and every LF preceded by CR within the chunk (and it does not end in CR). */
function isCleanCrlf(chunk: Buffer): boolean {
  let i = chunk.indexOf(LF);
  while (i !== -1) {
    if (i === 0 || chunk[i - 1] !== CR) return false;
    i = chunk.indexOf(LF, i + 1);
  }
  let j = chunk.indexOf(CR);
  while (j !== -1) {
    if (j + 1 >= chunk.length || chunk[j + 1] !== LF) return false;
    j = chunk.indexOf(CR, j + 1);
  }
  return true;
}
