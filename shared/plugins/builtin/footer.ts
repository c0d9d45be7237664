// core/footer: the streaming rewrite example — appends a footer to plain-text messages as they stream into the
// store (the body is never buffered). Multipart or encoded messages pass unchanged: rewriting MIME safely needs a
// MIME parser, which this example does not pretend to be.
import { Transform, type TransformCallback } from "node:stream";
import { z } from "zod";
import { definePlugin } from "../hooks.ts";
import { parseOptions } from "./options.ts";

const schema = z.object({ text: z.string().min(1) }).strict();

export class FooterAppender extends Transform {
  private head: Buffer | undefined = Buffer.alloc(0);
  private append = false;
  private lastBytes: Buffer = Buffer.alloc(0);

  constructor(private readonly footer: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
    // The last two bytes so far, to know whether the body ends with a line break (without copying chunks).
    if (chunk.length >= 2) this.lastBytes = chunk.subarray(-2);
    else if (chunk.length) this.lastBytes = Buffer.concat([this.lastBytes, chunk]).subarray(-2);
    if (this.head === undefined) return callback(null, chunk);
    this.head = Buffer.concat([this.head, chunk]);
    const end = this.head.indexOf("\r\n\r\n");
    if (end === -1 && this.head.length < 1024 * 1024) return callback();
    const block = this.head.subarray(0, end === -1 ? this.head.length : end).toString("latin1");
    this.append = end !== -1 && isPlainText(block);
    const out = this.head;
    this.head = undefined;
    callback(null, out);
  }

  override _flush(callback: TransformCallback) {
    if (this.head !== undefined)
      this.push(this.head); // never reached a body: unchanged
    else if (this.append) {
      const sep = this.lastBytes.toString("latin1") === "\r\n" ? "" : "\r\n";
      this.push(Buffer.from(`${sep}-- \r\n${this.footer.replace(/\r?\n/g, "\r\n")}\r\n`, "utf8"));
    }
    callback();
  }
}

/** A single text/plain part (or no Content-Type at all, RFC 2045 §5.2) in 7bit/8bit: safe to append to. */
function isPlainText(block: string): boolean {
  const unfolded = block.replace(/\r\n[ \t]+/g, " ");
  const type = /^content-type:\s*([^;\r\n]+)/im.exec(unfolded)?.[1]?.trim().toLowerCase() ?? "text/plain";
  const cte = /^content-transfer-encoding:\s*(\S+)/im.exec(unfolded)?.[1]?.toLowerCase() ?? "7bit";
  return type === "text/plain" && (cte === "7bit" || cte === "8bit");
}

export const footerPlugin = definePlugin({
  name: "footer",
  setup(api) {
    const o = parseOptions(schema, api.options);
    api.on("message:store", ({ rewrite }) => {
      rewrite.push(new FooterAppender(o.text));
    });
  },
});
