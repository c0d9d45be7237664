// Counts bytes while streaming and fails the stream as soon as a message passes its size limit.
import { Transform, type TransformCallback } from "node:stream";
import { MailError } from "../errors.ts";

export class SizeLimit extends Transform {
  bytes = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(new MailError("message-too-large", `Message exceeds the size limit of ${this.maxBytes} bytes`));
      return;
    }
    callback(null, chunk);
  }
}
