// Reading request bodies at the edge: the raw message as one Node stream, the JSON document with a byte cap.
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import type { ReadableStream as NodeWebStream } from "node:stream/web";
import type { Context } from "hono";
import { MailError } from "../shared/errors.ts";

/** 413 before reading a byte when the client announces more than we take. */
export function rejectDeclaredOversize(request: Request, limit: number): void {
  const declared = Number(request.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > limit) {
    throw new MailError("message-too-large", `Request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
}

/**
 * The body as a Node Readable, so everything after speaks Node streams. Under @hono/node-server that is the
 * IncomingMessage itself (its `c.env.incoming`) as long as nothing has started reading it: going through
 * `c.req.raw.body` would make a web Request and stream the body Node → web → Node (about a tenth of a
 * millisecond of CPU per request; issue 9). Elsewhere (Lambda) the web body is converted once here.
 */
export function bodyStream(c: Context): Readable {
  const incoming = unreadIncoming(c);
  if (incoming) return incoming;
  const request = c.req.raw;
  if (!request.body) throw new MailError("invalid-request", "The request has no body");
  // The DOM and node:stream/web ReadableStream types differ only on paper.
  return Readable.fromWeb(request.body as unknown as NodeWebStream<Uint8Array>);
}

/** The node:http request under @hono/node-server, when no one has read from it yet (neither flowing nor paused). */
function unreadIncoming(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming && incoming.readableFlowing === null && !incoming.readableDidRead ? incoming : undefined;
}

/**
 * Reads and parses a JSON body, failing as soon as it passes `limit` bytes. Buffering is unavoidable here: a JSON
 * document cannot be composed into a message until it has been parsed whole. (Raw messages are streamed.)
 */
export async function readJsonBody(c: Context, limit: number): Promise<unknown> {
  const request = c.req.raw;
  rejectDeclaredOversize(request, limit);
  const incoming = unreadIncoming(c);
  if (incoming) return parseJson(await readIncoming(incoming, limit), "The request body");
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
  return parseJson(Buffer.concat(chunks), "The request body");
}

/** A staged JSON document (an upload) read with the same cap as a JSON request body. */
export async function readJsonStream(stream: Readable, limit: number): Promise<unknown> {
  return parseJson(await readCapped(stream, limit, "The uploaded document"), "The uploaded document");
}

/** A staged upload in one Buffer; past `limit` bytes it is destroyed and the read fails with 413. */
async function readCapped(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new MailError("message-too-large", `${what} exceeds the limit of ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/**
 * A node:http request body in one Buffer; past `limit` bytes reading stops with 413. The request is not destroyed
 * (that would cut the connection before the 413 is written): @hono/node-server drains what is left after the
 * response, as it does for a web body that was cancelled.
 */
function readIncoming(incoming: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      incoming.off("data", onData).off("end", onEnd).off("error", done).off("close", onClose);
      if (err) {
        incoming.pause();
        reject(err);
      } else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) done(new MailError("message-too-large", `Request body exceeds the limit of ${limit} bytes`));
      else chunks.push(chunk);
    };
    const onEnd = () => done();
    const onClose = () => done(new Error("The client closed the connection before the request body ended"));
    incoming.on("data", onData).on("end", onEnd).on("error", done).on("close", onClose);
  });
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new MailError("invalid-request", `${what} is not valid JSON`);
  }
}
