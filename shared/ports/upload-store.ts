// Port: staged uploads — a message too large for the request that submits it (Lambda caps bodies near 6 MB) is
// PUT to a URL first, then submitted by reference through the same submit pipeline as any other body.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";

/** Where and how the client sends the bytes of one upload. */
export interface UploadTarget {
  /** The reference to submit later (`?upload=` / `"upload"`); unguessable. */
  id: string;
  method: "PUT";
  /** Absolute URL: a presigned S3 URL, or this API's own `PUT /v1/uploads/:id` with a signed token. */
  url: string;
  /** Headers the PUT must carry exactly as given (they are part of the signature). */
  headers: Record<string, string>;
  /** Epoch ms after which the URL is refused. */
  expiresAt: number;
}

export interface NewUpload {
  /** The caller (API key id): an upload can only be opened by the caller that created it. */
  owner: string;
  contentType: "message/rfc822" | "application/json";
  /** Exact size in bytes when the client knows it; the PUT must then have exactly this length. */
  size?: number;
  /** Most bytes the PUT may carry (the API's size limit). */
  maxSize: number;
  /** Origin of this API as the client reached it (for URLs we serve ourselves). */
  baseUrl: string;
}

/**
 * A store of staged uploads, separate from the BodyStore: an upload is untrusted client input that has not been
 * through the submit pipeline (size limit, CRLF, headers, DKIM body hash) and becomes a body only by being
 * submitted. Staged uploads are temporary: deleted after a successful submit, or expired (lifecycle rule / sweep).
 * - `open` of a missing upload, or of another owner's, rejects with code "ENOENT" (the two are indistinguishable).
 * - `delete` is idempotent.
 */
export interface UploadStore {
  create(upload: NewUpload): Promise<UploadTarget>;
  open(owner: string, id: string): Promise<{ body: Readable; size: number }>;
  delete(owner: string, id: string): Promise<void>;
  /**
   * Only for stores whose URL this API serves itself (`PUT /v1/uploads/:id`): checks the signed query and stores
   * the bytes. Rejects with code "EACCES" for a bad or expired signature and "EFBIG" past the signed size.
   */
  accept?(id: string, query: Record<string, string | undefined>, body: Readable): Promise<{ size: number }>;
  unhealthyReason(): string | undefined;
  close(): Promise<void>;
}

/** Upload ids: 128 random bits, base64url. */
export const UPLOAD_ID = /^[A-Za-z0-9_-]{22}$/;

/** Uploads are stored under a tag of their owner, so one caller's id opens nothing of another's. */
export function uploadOwnerTag(owner: string): string {
  return createHash("sha256").update(owner, "utf8").digest("hex").slice(0, 16);
}
