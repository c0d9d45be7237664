// Reading request bodies at the edge: the raw message as one Node stream, the JSON document with a byte cap.
import { Readable } from "node:stream";
import type { ReadableStream as NodeWebStream } from "node:stream/web";
import { MailError } from "../shared/errors.ts";

/** 413 before reading a byte when the client announces more than we take. */
export function rejectDeclaredOversize(request: Request, limit: number): void {
  const declared = Number(request.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > limit) {
    throw new MailError("message-too-large", `Request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
}

/** The body as a Node Readable, converted once here so everything after speaks Node streams. */
export function bodyStream(request: Request): Readable {
  if (!request.body) throw new MailError("invalid-request", "The request has no body");
  // The DOM and node:stream/web ReadableStream types differ only on paper.
  return Readable.fromWeb(request.body as unknown as NodeWebStream<Uint8Array>);
}

/**
 * Reads and parses a JSON body, failing as soon as it passes `limit` bytes. Buffering is unavoidable here: a JSON
 * document cannot be composed into a message until it has been parsed whole. (Raw messages are streamed.)
 */
export async function readJsonBody(request: Request, limit: number): Promise<unknown> {
  rejectDeclaredOversize(request, limit);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw new MailError("message-too-large", `Request body exceeds the limit of ${limit} bytes`);
      }
      chunks.push(value);
    }
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new MailError("invalid-request", "The request body is not valid JSON");
  }
}

/** A staged JSON document (an upload) read with the same cap as a JSON request body. */
export async function readJsonStream(stream: Readable, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new MailError("message-too-large", `The uploaded document exceeds the limit of ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new MailError("invalid-request", "The uploaded document is not valid JSON");
  }
}
