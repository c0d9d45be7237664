// smtp-server's DATA scan with native searches: the same decisions, without comparing every byte in JavaScript.
//
// SMTPStream#_feedDataStream looks at each byte of a message for a dot at a line start (the end of DATA, or a
// dot-stuffing escape): at 100 KB that loop was the busiest JavaScript function on the event loop's thread (issue 9).
// Here `Buffer#indexOf("\n.")` jumps from one such dot to the next, and everything else — the start-of-DATA checks
// that stop SMTP smuggling, what is emitted, the byte counting and the backpressure — is what the original does.
// It replaces only the exact method it was checked against (data-scan.test.ts runs both on random input and
// random chunking); another smtp-server version keeps its own scan.
import { createHash } from "node:crypto";
import type { PassThrough } from "node:stream";
import { SMTPStream } from "smtp-server/lib/smtp-stream";

/** sha256 of smtp-server 3.21.6's `_feedDataStream` source (dist/esm/smtp-stream.js). */
const CHECKED_SOURCE_SHA256 = "9d8b903f9a3a63542d72e19a9e2f67009a3b1107a28d57e8e7369355454ff230";

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const LF_DOT = Buffer.from("\n.");

type Done = (err?: Error | null) => void;

/** The fields and methods of smtp-server's SMTPStream that the scan uses (pinned by CHECKED_SOURCE_SHA256). */
interface DataModeStream {
  _dataStream: PassThrough;
  _lastBytes: Buffer | false;
  _atDataStart: boolean;
  _countDataBytes(length: number): void;
  _endDataMode(chunk: Buffer | false, remainder: Buffer, done: Done): void;
  _feedDataStream(chunk: Buffer, done: Done): void;
}

const proto = SMTPStream.prototype as unknown as DataModeStream;
export const originalFeedDataStream = proto._feedDataStream;

/** Installs the faster scan when smtp-server's is the one it was checked against; true when it did. */
export function useNativeDataScan(): boolean {
  if (proto._feedDataStream === feedDataStream) return true;
  if (!isCheckedOriginal(originalFeedDataStream)) return false;
  proto._feedDataStream = feedDataStream;
  return true;
}

export function isCheckedOriginal(fn: unknown): boolean {
  return typeof fn === "function" && createHash("sha256").update(fn.toString()).digest("hex") === CHECKED_SOURCE_SHA256;
}

export function feedDataStream(this: DataModeStream, input: Buffer, done: Done): void {
  const out = this._dataStream;
  let chunk = input;
  // The last four bytes of the previous chunk come first: a terminator or an escape may straddle two chunks.
  const held = this._lastBytes || undefined;
  if (held?.length) {
    chunk = Buffer.concat([held, chunk], held.length + chunk.length);
    this._lastBytes = false;
  }
  if (this._atDataStart) {
    // A message that is only the terminator. Checked on the first payload bytes only, whatever the chunking,
    // so a client cannot end DATA early by how it splits its segments (SMTP smuggling).
    if (chunk.length >= 3 && chunk[0] === DOT && chunk[1] === CR && chunk[2] === LF) {
      this._endDataMode(false, chunk.subarray(3), done);
      return;
    }
    // RFC 5321 §4.5.2: a leading dot doubled is an escape; the dot after it is content.
    if (chunk.length >= 2 && chunk[0] === DOT && chunk[1] === DOT) {
      chunk = chunk.subarray(1);
      this._atDataStart = false;
    }
  }
  const length = chunk.length;
  // Dots at a line start, from the third byte on, with two bytes after them (the original's `2 <= i < length - 2`).
  for (let lf = chunk.indexOf(LF_DOT, 1); lf !== -1 && lf + 1 < length - 2; lf = chunk.indexOf(LF_DOT, lf + 1)) {
    const dot = lf + 1;
    if (chunk[dot - 2] === CR && chunk[dot + 1] === CR && chunk[dot + 2] === LF) {
      // CRLF . CRLF: the message is everything before the dot, its last CRLF included.
      const message = chunk.subarray(0, dot);
      this._countDataBytes(message.length);
      this._endDataMode(message, chunk.subarray(dot + 3), done);
      return;
    }
    if (chunk[dot + 1] === DOT) {
      // An escape dot: emit what comes before it and go on after it, in a later turn as the original does.
      const before = chunk.subarray(0, dot);
      this._lastBytes = false;
      this._countDataBytes(before.length);
      if (out.writable) out.write(before);
      const rest = chunk.subarray(dot + 1);
      setImmediate(() => this._feedDataStream(rest, done));
      return;
    }
  }
  // Hold back the last four bytes for the next chunk; emit the rest, waiting for the consumer when it is full.
  this._lastBytes = chunk.length < 4 ? chunk : chunk.subarray(chunk.length - 4);
  if (this._lastBytes.length >= chunk.length) {
    done();
    return;
  }
  const emit = chunk.subarray(0, chunk.length - this._lastBytes.length);
  this._countDataBytes(emit.length);
  if (!out.writable || out.write(emit) || out.destroyed) {
    done();
    return;
  }
  // A stream that the application destroys never drains, it only closes.
  const onDrain = () => {
    out.removeListener("drain", onDrain);
    out.removeListener("close", onDrain);
    done();
  };
  out.once("drain", onDrain);
  out.once("close", onDrain);
}
