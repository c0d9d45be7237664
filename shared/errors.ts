// The few typed errors of ZoneRelay: each knows its SMTP reply, enhanced status code and HTTP status, so SMTP
// intake, the HTTP API and delivery outcomes speak the same language.

export type ErrorKind =
  | "message-too-large"
  | "too-many-recipients"
  | "mail-loop"
  | "invalid-address"
  | "invalid-request"
  | "relay-denied"
  | "auth-required"
  | "auth-failed"
  | "auth-throttled"
  | "zone-not-allowed"
  | "header-injection"
  | "storage-unavailable"
  | "rejected"
  | "deferred"
  | "not-found"
  | "internal";

interface ReplySpec {
  smtp: number;
  enhanced: string;
  http: number;
  temporary: boolean;
  title: string;
}

/** Every reply code intake sends for an error, in one place (RFC 5321 §4.2.3, RFC 3463). */
export const REPLY_TABLE: Record<ErrorKind, ReplySpec> = {
  "message-too-large": { smtp: 552, enhanced: "5.3.4", http: 413, temporary: false, title: "Message too large" },
  "too-many-recipients": { smtp: 452, enhanced: "4.5.3", http: 422, temporary: true, title: "Too many recipients" },
  "mail-loop": { smtp: 554, enhanced: "5.4.6", http: 422, temporary: false, title: "Mail loop detected" },
  "invalid-address": { smtp: 553, enhanced: "5.1.3", http: 422, temporary: false, title: "Invalid address" },
  "invalid-request": { smtp: 501, enhanced: "5.5.4", http: 400, temporary: false, title: "Invalid request" },
  "relay-denied": { smtp: 554, enhanced: "5.7.1", http: 403, temporary: false, title: "Relay access denied" },
  "auth-required": { smtp: 530, enhanced: "5.7.0", http: 401, temporary: false, title: "Authentication required" },
  "auth-failed": { smtp: 535, enhanced: "5.7.8", http: 401, temporary: false, title: "Authentication failed" },
  // RFC 4954 §6: 454 4.7.0 is the temporary authentication failure; RFC 6585 §4: 429 Too Many Requests.
  "auth-throttled": { smtp: 454, enhanced: "4.7.0", http: 429, temporary: true, title: "Too many failed logins" },
  "zone-not-allowed": { smtp: 550, enhanced: "5.7.1", http: 403, temporary: false, title: "Zone not allowed" },
  "header-injection": { smtp: 554, enhanced: "5.6.0", http: 422, temporary: false, title: "Invalid header value" },
  "storage-unavailable": { smtp: 451, enhanced: "4.3.0", http: 503, temporary: true, title: "Storage unavailable" },
  // A policy (plugin: spam check, custom rule) refused the message, for good or for now; a plugin may give its own
  // code within the class (e.g. 554 5.7.1).
  rejected: { smtp: 550, enhanced: "5.7.1", http: 422, temporary: false, title: "Message rejected" },
  deferred: { smtp: 451, enhanced: "4.7.1", http: 503, temporary: true, title: "Message deferred" },
  "not-found": { smtp: 550, enhanced: "5.1.1", http: 404, temporary: false, title: "Not found" },
  internal: { smtp: 451, enhanced: "4.3.0", http: 500, temporary: true, title: "Internal error" },
};

export class MailError extends Error {
  readonly smtpCode: number;
  readonly enhanced: string;
  readonly httpStatus: number;
  readonly temporary: boolean;

  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** The request field at fault, for problem+json bodies. */
    readonly field?: string,
    /** A more precise SMTP reply of the same class (4xx stays 4xx), e.g. a plugin's 554 5.7.1. */
    reply?: { smtp?: number; enhanced?: string },
  ) {
    super(message);
    this.name = "MailError";
    const spec = REPLY_TABLE[kind];
    const sameClass = (code: number | undefined) =>
      code !== undefined && Math.floor(code / 100) === Math.floor(spec.smtp / 100);
    this.smtpCode = sameClass(reply?.smtp) ? reply!.smtp! : spec.smtp;
    this.enhanced = reply?.enhanced && reply.enhanced[0] === spec.enhanced[0] ? reply.enhanced : spec.enhanced;
    this.httpStatus = spec.http;
    this.temporary = spec.temporary;
  }

  /** The SMTP reply text without the code, e.g. "5.3.4 Message too large". */
  get smtpText(): string {
    return `${this.enhanced} ${this.message}`;
  }
}

/** Anything that is not a MailError is an internal, temporary failure: never turn the unknown into a 5xx. */
export function toMailError(err: unknown): MailError {
  if (err instanceof MailError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isStorageFull(err)) {
    // RFC 5321 §4.2.2 452 "insufficient system storage", RFC 3463 4.3.1 "mail system full": try again later.
    return new MailError("storage-unavailable", `Storage full: ${message}`, undefined, {
      smtp: 452,
      enhanced: "4.3.1",
    });
  }
  if (isBackendUnavailable(err)) return new MailError("storage-unavailable", `Storage unavailable: ${message}`);
  return new MailError("internal", "Temporary local problem, try again later");
}

const FULL_CODES = new Set(["ENOSPC", "EDQUOT", "SQLITE_FULL"]);

/** Out of space (disk, quota, SQLite): the same temporary failure as any outage, said more precisely. */
function isStorageFull(err: unknown): boolean {
  if (!err || typeof err !== "object") return false;
  if (FULL_CODES.has(String((err as { code?: unknown }).code))) return true;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err && isStorageFull(cause);
}

const UNAVAILABLE_CODES = new Set([
  // local disk
  "ENOSPC",
  "EDQUOT",
  "EIO",
  "EROFS",
  // network to a backend (MongoDB, Redis, S3, SQS)
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "EAI_AGAIN",
  // SQLite
  "SQLITE_FULL",
  "SQLITE_IOERR",
  "SQLITE_BUSY",
  "SQLITE_READONLY",
  "SQLITE_CANTOPEN",
]);
const UNAVAILABLE_NAMES = new Set([
  // mongodb driver
  "MongoNetworkError",
  "MongoNetworkTimeoutError",
  "MongoServerSelectionError",
  "MongoNotConnectedError",
  "MongoTopologyClosedError",
  "MongoWriteConcernError",
  // ioredis
  "MaxRetriesPerRequestError",
  // AWS SDK
  "TimeoutError",
  "NetworkingError",
  "RequestTimeout",
  "ServiceUnavailable",
  "SlowDown",
  "ThrottlingException",
  "InternalError",
]);

/**
 * A backend that cannot take the write right now (disk full, server unreachable, throttled, 5xx): the client must
 * hear "try again later" (SMTP 451, HTTP 503), never a permanent refusal and never a silent 250.
 */
export function isBackendUnavailable(err: unknown): boolean {
  if (!err || typeof err !== "object") return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number } };
  if (UNAVAILABLE_CODES.has(String(e.code))) return true;
  if (UNAVAILABLE_NAMES.has(String(e.name))) return true;
  if ((e.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  // mongodb driver: bulk writes wrap a network error and label it ResetPool.
  const labelled = err as { hasErrorLabel?: (label: string) => boolean; errorLabels?: string[] };
  if (labelled.hasErrorLabel?.("ResetPool") || labelled.errorLabels?.includes("ResetPool")) return true;
  // ioredis with the offline queue disabled
  if (typeof e.message === "string" && /Connection is closed|Stream isn't writeable/.test(e.message)) return true;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err && isBackendUnavailable(cause);
}
