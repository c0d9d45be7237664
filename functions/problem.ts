// Errors as RFC 9457 problem details (application/problem+json): the one place the HTTP API builds an error
// response, so every status, challenge and Retry-After is decided here.
import { REPLY_TABLE, toMailError } from "../shared/errors.ts";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** Seconds a client should wait before retrying a temporary (503) failure. */
export const RETRY_AFTER_SECONDS = 30;

export interface ProblemBody {
  /** A URN per error kind: stable for clients to switch on, and it does not pretend to be a web page. */
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The request field at fault (extension member, RFC 9457 §3.2). */
  field?: string;
}

export interface ProblemSpec {
  status: number;
  /** Short kebab-case name of the problem; becomes `urn:zonerelay:problem:<kind>`. */
  kind: string;
  title: string;
  detail: string;
  field?: string;
  headers?: Record<string, string>;
}

export function problem(spec: ProblemSpec): Response {
  const body = bodyOf(spec);
  const headers: Record<string, string> = { "content-type": PROBLEM_CONTENT_TYPE, ...spec.headers };
  // RFC 9110 §10.2.3: tell clients of a temporary outage when to come back instead of letting them hammer us.
  if (spec.status === 503) headers["retry-after"] = String(RETRY_AFTER_SECONDS);
  return new Response(JSON.stringify(body), { status: spec.status, headers });
}

/** Any thrown value as a problem response; what is not a MailError becomes a temporary 5xx (toMailError). */
export function problemResponse(error: unknown): Response {
  const err = toMailError(error);
  const headers: Record<string, string> = {};
  // RFC 6750 §3: a 401 names the scheme it wants; a rejected key is an invalid_token.
  if (err.kind === "auth-required") headers["www-authenticate"] = 'Bearer realm="zonerelay"';
  if (err.kind === "auth-failed") headers["www-authenticate"] = 'Bearer realm="zonerelay", error="invalid_token"';
  return problem({ ...problemSpec(err), headers });
}

/** The problem body for any thrown value (each message of a batch is answered with one). */
export function problemBody(error: unknown): ProblemBody {
  return bodyOf(problemSpec(toMailError(error)));
}

function bodyOf(spec: ProblemSpec): ProblemBody {
  return {
    type: `urn:zonerelay:problem:${spec.kind}`,
    title: spec.title,
    status: spec.status,
    detail: spec.detail,
    ...(spec.field === undefined ? {} : { field: spec.field }),
  };
}

function problemSpec(err: ReturnType<typeof toMailError>): ProblemSpec {
  const { title } = REPLY_TABLE[err.kind];
  return {
    status: err.httpStatus,
    kind: err.kind,
    title,
    // A 5xx detail may carry paths or driver messages: the log gets them, the client only the title.
    detail: err.httpStatus >= 500 ? `${title}, try again later` : err.message,
    ...(err.field === undefined ? {} : { field: err.field }),
  };
}
