// Streams a message while rewriting only its header block: prepends trace headers, adds Message-ID and Date
// when missing, and refuses mail loops and oversized headers. The body passes through untouched.
import { Transform, type TransformCallback } from "node:stream";
import { MailError } from "../errors.ts";
import { decodeEncodedWords, type HeaderLine, headerValue, parseHeaderBlock } from "./headers.ts";

export interface HeaderInfo {
  fields: HeaderLine[];
  messageId: string;
  subject?: string;
  /** The header block as stored (with our additions), CRLF-terminated lines, without the blank line. */
  headerBlock: string;
}

export interface HeaderProcessorOptions {
  /** Complete header lines (no CRLF) to put on top, e.g. our Received header. */
  prepend: string[];
  /** Values used when the message lacks them. */
  defaults: { messageId: string; date: string };
  /** RFC 5321 §6.3: more trace headers than this means a loop. */
  maxReceived: number;
  maxHeaderBytes: number;
  /** Lower-cased names of header fields to drop from the stored message (they stay in `fields`). */
  remove?: readonly string[];
  /** Changes the final header block before it is stored (plugins' message:headers); may refuse by throwing. */
  edit?: (headerBlock: string) => Promise<string>;
  onHeaders: (info: HeaderInfo) => void;
}

const END_OF_HEADERS = Buffer.from("\r\n\r\n");

export class HeaderProcessor extends Transform {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private done = false;

  constructor(private readonly options: HeaderProcessorOptions) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
    if (this.done) {
      callback(null, chunk);
      return;
    }
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    const all = this.buffered.length === 1 ? chunk : Buffer.concat(this.buffered);
    this.buffered = [all];
    // A message that starts with CRLF has an empty header block.
    const end = all.subarray(0, 2).toString() === "\r\n" ? 0 : all.indexOf(END_OF_HEADERS);
    if (end === -1) {
      if (this.bufferedBytes > this.options.maxHeaderBytes) {
        callback(new MailError("message-too-large", "Header section too large"));
        return;
      }
      callback();
      return;
    }
    const headerEnd = end === 0 ? 0 : end + 2; // keep the CRLF of the last header line
    this.emitHeaders(all.subarray(0, headerEnd).toString("utf8"), callback, all.subarray(headerEnd));
  }

  override _flush(callback: TransformCallback) {
    if (this.done) {
      callback();
      return;
    }
    // Headers only, no body: the whole input is the header block.
    let text = Buffer.concat(this.buffered).toString("utf8");
    if (text && !text.endsWith("\r\n")) text += "\r\n";
    this.emitHeaders(text, callback, Buffer.from("\r\n"));
  }

  private emitHeaders(block: string, callback: TransformCallback, rest: Buffer) {
    this.done = true;
    this.buffered = [];
    const o = this.options;
    const fields = parseHeaderBlock(block);
    const received = fields.filter((f) => f.key === "received").length;
    if (received >= o.maxReceived) {
      callback(new MailError("mail-loop", `Too many Received headers (${received}): mail loop detected`));
      return;
    }
    const added: string[] = [];
    let messageId = headerValue(fields, "message-id");
    if (!messageId) {
      messageId = o.defaults.messageId;
      added.push(`Message-ID: ${messageId}`);
    }
    if (!headerValue(fields, "date")) added.push(`Date: ${o.defaults.date}`);
    const kept = o.remove?.length ? withoutFields(block, o.remove) : block;
    const head = [...o.prepend, ...kept.split("\r\n").filter((l) => l !== ""), ...added];
    const built = head.length ? `${head.join("\r\n")}\r\n` : "";
    const rawSubject = headerValue(fields, "subject");
    const subject = rawSubject === undefined ? undefined : decodeEncodedWords(rawSubject);
    const finish = (headerBlock: string) => {
      o.onHeaders({ fields, messageId, headerBlock, ...(subject === undefined ? {} : { subject }) });
      this.push(Buffer.from(headerBlock, "utf8"));
      // `rest` starts with the blank line that ends the header section (or is the body after an empty header).
      callback(null, rest.subarray(0, 2).toString() === "\r\n" ? rest : Buffer.concat([Buffer.from("\r\n"), rest]));
    };
    if (!o.edit) return finish(built);
    o.edit(built).then(
      (block) => {
        try {
          finish(block);
        } catch (err) {
          callback(err as Error); // never an unhandled rejection: the stream fails, the client hears why
        }
      },
      (err: Error) => callback(err),
    );
  }
}

/** The header block without the named fields, continuation lines included. */
function withoutFields(block: string, names: readonly string[]): string {
  const out: string[] = [];
  let dropping = false;
  for (const line of block.split("\r\n")) {
    if (line === "") continue;
    if (line.startsWith(" ") || line.startsWith("\t")) {
      if (!dropping) out.push(line);
      continue;
    }
    const colon = line.indexOf(":");
    dropping = colon > 0 && names.includes(line.slice(0, colon).trim().toLowerCase());
    if (!dropping) out.push(line);
  }
  return out.length ? `${out.join("\r\n")}\r\n` : "";
}
