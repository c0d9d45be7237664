// Message submission: POST /v1/messages (JSON, composed here) and POST /v1/messages/raw (RFC 5322, streamed).
import type { IncomingMessage } from "node:http";
import { type Context, Hono } from "hono";
import { MailError } from "../../shared/errors.ts";
import type { SubmitInput, SubmitResult } from "../../shared/intake/submit-types.ts";
import type { ApiEnv, AppDeps } from "../app-env.ts";
import { composeMessage } from "../compose.ts";
import { parseMessageRequest } from "../message-schema.ts";
import { problemBody, RETRY_AFTER_SECONDS } from "../problem.ts";
import { bodyStream, readJsonBody, readJsonStream, rejectDeclaredOversize } from "../request-body.ts";

// RFC 9110 field values are visible ASCII; 255 is what Stripe and the IETF idempotency draft suggest as a cap.
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
// A JSON body carries attachments as base64 (4/3 of their size) plus JSON escaping; the composed message is
// counted exactly against maxSize by submit, this cap only stops absurd documents before they are buffered.
const JSON_OVERHEAD_FACTOR = 2;
const JSON_SLACK_BYTES = 64 * 1024;
// Messages per batch (Postmark's limit too): one request stays a bounded amount of work and of waiting.
export const MAX_BATCH = 500;
// A batch's messages in flight at once: enough to share the queue's group commits, few enough to bound its streams.
const BATCH_CONCURRENCY = 32;

export function messageRoutes(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const { maxSize } = deps.config.api;

  app.post("/", async (c) => {
    const upload = { id: undefined as string | undefined };
    let json = await readJsonBody(c, jsonRequestLimit(deps));
    // `{ "upload": id }` alone: the request document was uploaded (routes/uploads.ts) and is read from there.
    if (json && typeof json === "object" && "upload" in json) {
      upload.id = uploadIdOf(json);
      const staged = await openUpload(c, deps, upload.id, jsonRequestLimit(deps));
      json = await readJsonStream(staged, jsonRequestLimit(deps));
    }
    const result = await submitJson(c, deps, json, common(c, deps));
    if (upload.id) await discardUpload(c, deps, upload.id, result);
    return accepted(c, result);
  });

  // Many JSON messages in one request: each is validated, composed and queued on its own, and answered in the
  // same place of the response, so one bad message costs only itself.
  app.post("/batch", async (c) => {
    const json = await readJsonBody(c, jsonRequestLimit(deps));
    if (!Array.isArray(json) || json.length === 0 || json.length > MAX_BATCH) {
      throw new MailError("invalid-request", `Give an array of 1 to ${MAX_BATCH} messages`);
    }
    const shared = common(c, deps);
    const results = await mapConcurrently(json, BATCH_CONCURRENCY, async (item, index) => {
      try {
        // A batch's Idempotency-Key covers each message by its place: a retried batch gets the first answers.
        // The space cannot occur in a key a client sends, so no single message's key can match a batch's.
        const { idempotency } = shared;
        const result = await submitJson(c, deps, item, {
          ...shared,
          ...(idempotency ? { idempotency: { ...idempotency, key: `${idempotency.key} ${index}` } } : {}),
        });
        return { status: result.duplicate ? 200 : 202, ...acceptedBody(result) };
      } catch (err) {
        const body = problemBody(err);
        const log = { err, keyId: c.get("caller").keyId, index, kind: body.type };
        if (body.status >= 500) deps.logger.error(log, "batch message failed");
        else deps.logger.debug(log, "batch message refused");
        return body;
      }
    });
    // RFC 9110 §10.2.3, as for a single message: the temporary failures among them may be retried later.
    if (results.some((r) => r.status === 503)) c.header("retry-after", String(RETRY_AFTER_SECONDS));
    return c.json({ results }, 200);
  });

  app.post("/raw", async (c) => {
    rejectDeclaredOversize(c.req.raw, maxSize);
    const envelope = rawEnvelope(c);
    // `?upload=<id>`: the message was PUT to an upload URL first; it streams from there through the same
    // pipeline (size limit, Received, DKIM body hash) into the body store, exactly like a request body.
    const uploadId = c.req.query("upload");
    const sendAt = c.req.query("sendAt");
    const notBefore = sendAt === undefined ? undefined : scheduledTime(sendAt, deps.clock.now(), deps);
    const result = await deps.submit({
      ...common(c, deps),
      ...envelope,
      body: uploadId === undefined ? bodyStream(c) : await openUpload(c, deps, uploadId, maxSize),
      ...zoneOf(c, c.req.query("zone")),
      ...(notBefore === undefined ? {} : { notBefore }),
    });
    if (uploadId !== undefined) await discardUpload(c, deps, uploadId, result);
    return accepted(c, result);
  });

  return app;
}

/** One JSON message: plugins, validation, composition and submission, as POST /v1/messages and each of a batch. */
async function submitJson(
  c: Context<ApiEnv>,
  deps: AppDeps,
  json: unknown,
  shared: ReturnType<typeof common>,
): Promise<SubmitResult> {
  // Plugins see (and may change) the request before it is validated, so what they make is checked too.
  if (deps.plugins?.has("api:submit") && json && typeof json === "object" && !Array.isArray(json)) {
    await deps.plugins.run("api:submit", {
      request: json as Record<string, unknown>,
      caller: { keyId: c.get("caller").keyId },
    });
  }
  const request = parseMessageRequest(json);
  const now = deps.clock.now();
  const notBefore = request.sendAt === undefined ? undefined : scheduledTime(request.sendAt, now, deps);
  const composed = composeMessage(request, { hostname: deps.config.hostname, now });
  return deps.submit({
    ...shared,
    from: composed.from,
    to: composed.to,
    body: composed.body,
    ...zoneOf(c, request.zone),
    ...(notBefore === undefined ? {} : { notBefore }),
  });
}

/** Runs `task` over `items`, at most `limit` at a time; the results keep the items' order. */
async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The largest JSON request document: the composed message is counted against maxSize exactly by submit. */
export function jsonRequestLimit(deps: AppDeps): number {
  return deps.config.api.maxSize * JSON_OVERHEAD_FACTOR + JSON_SLACK_BYTES;
}

function uploadIdOf(json: object): string {
  const { upload, ...rest } = json as { upload?: unknown };
  if (typeof upload !== "string" || Object.keys(rest).length > 0) {
    throw new MailError("invalid-request", 'Give the upload as the only field: { "upload": "<id>" }', "upload");
  }
  return upload;
}

/** The caller's staged upload as a stream; another caller's (or an unknown) id is 404. */
async function openUpload(c: Context<ApiEnv>, deps: AppDeps, id: string, limit: number) {
  if (!deps.uploads) throw new MailError("not-found", "Uploads are not enabled (uploads.enabled)");
  try {
    const { body, size } = await deps.uploads.open(c.get("caller").keyId, id);
    if (size > limit) {
      body.destroy();
      throw new MailError("message-too-large", `The upload of ${size} bytes exceeds the limit of ${limit} bytes`);
    }
    return body;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new MailError(
        "not-found",
        `No upload ${JSON.stringify(id)} (never uploaded, expired or submitted)`,
        "upload",
      );
    }
    throw err;
  }
}

/**
 * A submitted upload is a stored body now; the staged copy goes (a lifecycle rule or sweep catches a failure).
 * With an Idempotency-Key it stays until it expires: a client that lost our answer retries with the same key and
 * the same upload, and must get the first answer, not a 404.
 */
async function discardUpload(c: Context<ApiEnv>, deps: AppDeps, id: string, result: SubmitResult) {
  if (c.req.header("idempotency-key") !== undefined || result.duplicate) return;
  await deps.uploads?.delete(c.get("caller").keyId, id).catch((err) => {
    deps.logger.warn({ err, upload: id }, "could not remove a submitted upload; it expires by itself");
  });
}

/** What every submission shares: who sent it, their scope, the size limit and the idempotency key. */
function common(c: Context<ApiEnv>, deps: AppDeps) {
  const caller = c.get("caller");
  const idempotencyKey = c.req.header("idempotency-key");
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
    throw new MailError("invalid-request", "Idempotency-Key must be 1-255 visible ASCII characters", "Idempotency-Key");
  }
  const remoteAddress = remoteAddressOf(c);
  return {
    source: {
      interface: "api",
      name: "api",
      ...(remoteAddress ? { remoteAddress } : {}),
      user: caller.keyId,
    },
    ...(caller.zones ? { allowedZones: caller.zones } : {}),
    maxSize: deps.config.api.maxSize,
    ...(idempotencyKey === undefined ? {} : { idempotency: { scope: caller.keyId, key: idempotencyKey } }),
    received: { protocol: "HTTP" },
  } satisfies Partial<SubmitInput>;
}

/**
 * The zone asked for; without one, a key scoped to zones sends through its first zone (the key names its lane),
 * and an unscoped caller leaves the choice to routing. Submit checks the zone against the key's scope (403).
 */
function zoneOf(c: Context<ApiEnv>, requested: string | undefined): { zone?: string } {
  const zone = requested ?? c.get("caller").zones?.[0];
  return zone === undefined ? {} : { zone };
}

/** Envelope of a raw message: `?from=&to=` (repeatable) or X-Envelope-From / X-Envelope-To (comma-separated). */
function rawEnvelope(c: Context<ApiEnv>): { from: string; to: string[] } {
  const from = c.req.query("from") ?? c.req.header("x-envelope-from");
  if (from === undefined) {
    throw new MailError(
      "invalid-request",
      "Give the envelope sender as ?from= or X-Envelope-From (empty = <>)",
      "from",
    );
  }
  const queried = c.req.queries("to") ?? [];
  const to = (queried.length ? queried : (c.req.header("x-envelope-to") ?? "").split(","))
    .flatMap((t) => t.split(","))
    .map((t) => t.trim())
    .filter(Boolean);
  if (to.length === 0) throw new MailError("invalid-request", "Give recipients as ?to= or X-Envelope-To", "to");
  // An empty sender is the null reverse-path <> (RFC 5321 §4.5.5), used for bounces.
  return { from: from.trim().replace(/^<(.*)>$/, "$1"), to };
}

/** `sendAt` as epoch ms; later than the queue keeps messages would only ever bounce, so it is refused. */
function scheduledTime(sendAt: string, now: number, deps: AppDeps): number {
  const at = Date.parse(sendAt);
  if (Number.isNaN(at)) throw new MailError("invalid-request", "sendAt must be an ISO 8601 date-time", "sendAt");
  if (at > now + deps.config.queue.maxQueueTime) {
    throw new MailError(
      "invalid-request",
      "sendAt is later than the queue keeps messages (queue.maxQueueTime)",
      "sendAt",
    );
  }
  return at;
}

/** 202 for a new message; 200 with the first answer when an Idempotency-Key matched (nothing new was queued). */
function accepted(c: Context<ApiEnv>, result: SubmitResult) {
  c.header("location", `/v1/messages/${result.messageId}`);
  return c.json(acceptedBody(result), result.duplicate ? 200 : 202);
}

function acceptedBody(result: SubmitResult) {
  return { id: result.messageId, messageId: result.messageIdHeader, deliveries: result.deliveries };
}

/** The peer address under @hono/node-server (its bindings) or a Lambda function URL (the event); else none. */
function remoteAddressOf(c: Context<ApiEnv>): string | undefined {
  const env = c.env as
    | { incoming?: IncomingMessage; event?: { requestContext?: { http?: { sourceIp?: string } } } }
    | undefined;
  return env?.incoming?.socket?.remoteAddress ?? env?.event?.requestContext?.http?.sourceIp;
}
