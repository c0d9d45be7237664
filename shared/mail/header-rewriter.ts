// Rewrites the header block of a message stream (send-time header hooks, DKIM-Signature on top): only the header
// block is buffered (bounded), the body streams through untouched.
import { Transform, type TransformCallback } from "node:stream";

const CRLFCRLF = Buffer.from("\r\n\r\n");
const MAX_HEADER_BYTES = 1024 * 1024;

export class HeaderRewriter extends Transform {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private done = false;

  /**
   * `rewrite` gets the header block ("binary" string: CRLF lines, without the blank line) and returns the block to
   * send instead (it may be async).
   */
  constructor(private readonly rewrite: (headerBlock: string) => string | Promise<string>) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
    if (this.done) return callback(null, chunk);
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    const all = Buffer.concat(this.buffered);
    this.buffered = [all];
    // A message that starts with CRLF has an empty header block.
    const end = all[0] === 0x0d && all[1] === 0x0a ? 0 : all.indexOf(CRLFCRLF);
    if (end === -1 && this.bufferedBytes <= MAX_HEADER_BYTES) return callback();
    if (end === -1) {
      // An endless header section is sent as it is: the receiver judges it.
      this.done = true;
      this.buffered = [];
      return callback(null, all);
    }
    const cut = end === 0 ? 0 : end + 2;
    this.release(all.subarray(0, cut), all.subarray(cut), callback);
  }

  override _flush(callback: TransformCallback) {
    if (this.done) return callback();
    // Headers only, no blank line, no body.
    this.release(Buffer.concat(this.buffered), Buffer.alloc(0), callback);
  }

  private release(head: Buffer, rest: Buffer, callback: TransformCallback) {
    this.done = true;
    this.buffered = [];
    Promise.resolve()
      .then(() => this.rewrite(head.toString("latin1")))
      .then(
        (block) => {
          this.push(Buffer.from(block, "latin1"));
          callback(null, rest);
        },
        (err: Error) => callback(err),
      );
  }
}
