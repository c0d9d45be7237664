// The upload flow for messages larger than one request may carry (Lambda buffers bodies and caps them near 6 MB):
// POST /v1/uploads makes a URL, the client PUTs the message there, then submits it by id (messages.ts).
import { Hono } from "hono";
import { z } from "zod";
import { MailError } from "../../shared/errors.ts";
import type { ApiEnv, AppDeps } from "../app-env.ts";
import { bodyStream, readJsonBody, rejectDeclaredOversize } from "../request-body.ts";
import { jsonRequestLimit } from "./messages.ts";

const NewUploadRequest = z
  .object({
    contentType: z.enum(["message/rfc822", "application/json"]).default("message/rfc822"),
    size: z.number().int().nonnegative().optional(),
  })
  .strict();

/** POST /v1/uploads (behind the API key, like every /v1 route). */
export function uploadRoutes(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.post("/", async (c) => {
    const uploads = enabled(deps);
    const raw = (await readJsonBody(c, 4096)) ?? {};
    const parsed = NewUploadRequest.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new MailError("invalid-request", issue.message, issue.path.join(".") || undefined);
    }
    const { contentType, size } = parsed.data;
    // The upload replaces a request body, so it has that request's limit.
    const maxSize = contentType === "application/json" ? jsonRequestLimit(deps) : deps.config.api.maxSize;
    if (size !== undefined && size > maxSize) {
      throw new MailError("message-too-large", `An upload of ${size} bytes exceeds the limit of ${maxSize} bytes`);
    }
    const target = await uploads.create({
      owner: c.get("caller").keyId,
      contentType,
      ...(size === undefined ? {} : { size }),
      maxSize,
      baseUrl: deps.config.uploads.publicUrl ?? new URL(c.req.url).origin,
    });
    return c.json(
      {
        id: target.id,
        method: target.method,
        url: target.url,
        headers: target.headers,
        expiresAt: iso(target.expiresAt),
      },
      201,
    );
  });
  return app;
}

/**
 * PUT /v1/uploads/:id — the URL a store without presigned URLs of its own (fs) hands out. Mounted before the API
 * key check: like an S3 presigned URL, the signed query is the authorisation, so any HTTP client can PUT to it.
 */
export function uploadTargetRoutes(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.put("/:id", async (c) => {
    const uploads = enabled(deps);
    if (!uploads.accept) throw new MailError("not-found", "This upload store takes uploads at its own URL");
    rejectDeclaredOversize(c.req.raw, Math.max(deps.config.api.maxSize, jsonRequestLimit(deps)));
    try {
      await uploads.accept(c.req.param("id"), c.req.query(), bodyStream(c));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EACCES") throw new MailError("auth-failed", (err as Error).message);
      if (code === "EFBIG") throw new MailError("message-too-large", (err as Error).message);
      if (code === "EINVAL" || code === "ENOENT") throw new MailError("invalid-request", (err as Error).message);
      throw err;
    }
    return c.body(null, 200);
  });
  return app;
}

function enabled(deps: AppDeps) {
  if (!deps.uploads) throw new MailError("not-found", "Uploads are not enabled (uploads.enabled)");
  return deps.uploads;
}

const iso = (ms: number) => new Date(ms).toISOString();
