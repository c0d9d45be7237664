// Prepends header fields computed from the header block (DKIM-Signature) to a message stream: only the header
// block is buffered (bounded), the body streams through.
import { Transform, type TransformCallback } from "node:stream";

const CRLFCRLF = Buffer.from("\r\n\r\n");
const MAX_HEADER_BYTES = 1024 * 1024;

export class HeaderPrepender extends Transform {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private done = false;

  /** `make` gets the header block ("binary" string, CRLF lines, without the blank line) and returns lines to add. */
  constructor(private readonly make: (headerBlock: string) => string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
    if (this.done) return callback(null, chunk);
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    const all = Buffer.concat(this.buffered);
    this.buffered = [all];
    const end = all.subarray(0, 2).equals(CRLFCRLF.subarray(0, 2)) ? 0 : all.indexOf(CRLFCRLF);
    if (end === -1 && this.bufferedBytes <= MAX_HEADER_BYTES) return callback();
    // An endless header section is sent as it is, unsigned: the receiver judges it.
    this.release(end === -1 ? undefined : all.subarray(0, end === 0 ? 0 : end + 2), callback);
  }

  override _flush(callback: TransformCallback) {
    if (this.done) return callback();
    this.release(Buffer.concat(this.buffered), callback);
  }

  private release(headerBlock: Buffer | undefined, callback: TransformCallback) {
    this.done = true;
    const all = Buffer.concat(this.buffered);
    this.buffered = [];
    let added = "";
    try {
      if (headerBlock) added = this.make(headerBlock.toString("latin1"));
    } catch (err) {
      return callback(err as Error);
    }
    if (added) this.push(Buffer.from(added, "latin1"));
    callback(null, all);
  }
}
