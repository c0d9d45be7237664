// API key authentication: `Authorization: Bearer <key>` checked against the sha256 hashes in config.api.keys.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AuthThrottle } from "../shared/auth/auth-throttle.ts";
import type { Config } from "../shared/config/schema.ts";
import { MailError, REPLY_TABLE } from "../shared/errors.ts";
import { type AdminSessions, csrfMatches, SESSION_COOKIE } from "./admin/session.ts";
import type { ApiEnv, Caller } from "./app-env.ts";
import { problem } from "./problem.ts";

type ApiKeyConfig = Config["api"]["keys"][number];

interface StoredKey {
  id: string;
  digest: Buffer;
  zones?: readonly string[];
}

/** The caller when the API runs without keys (server.ts allows that only on a loopback bind). */
export const ANONYMOUS: Caller = { keyId: "anonymous" };

export function sha256Hex(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Builds the key check once; returns the caller or throws auth-required / auth-failed. */
export function createAuthenticator(keys: readonly ApiKeyConfig[]): (authorization: string | undefined) => Caller {
  const stored: StoredKey[] = keys.map((k) => ({
    id: k.id,
    digest: Buffer.from(k.hash.slice("sha256:".length), "hex"),
    ...(k.zones ? { zones: k.zones } : {}),
  }));
  return (authorization) => {
    if (stored.length === 0) return ANONYMOUS;
    // RFC 6750 §2.1: the scheme is case-insensitive.
    const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(authorization ?? "");
    if (!match) throw new MailError("auth-required", "Send an API key as `Authorization: Bearer <key>`");
    const presented = createHash("sha256").update(match[1]!, "utf8").digest();
    // Compare with every key, not just until the first match, so the time taken says nothing about the keys.
    let found: StoredKey | undefined;
    for (const key of stored) {
      if (timingSafeEqual(presented, key.digest) && !found) found = key;
    }
    if (!found) throw new MailError("auth-failed", "Invalid API key");
    return { keyId: found.id, ...(found.zones ? { zones: found.zones } : {}) };
  };
}

/** Middleware that sets `c.var.caller`; a failure is thrown to the app's error handler (401 problem). */
export function apiKeyAuth(keys: readonly ApiKeyConfig[]): MiddlewareHandler<ApiEnv> {
  const authenticate = createAuthenticator(keys);
  return async (c, next) => {
    c.set("caller", authenticate(c.req.header("authorization")));
    await next();
  };
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The caller of an operator route: an API key (`Authorization: Bearer`), or else a web admin session cookie. A
 * session may change things only with its CSRF token in `X-CSRF-Token` (SameSite=Strict already stops other
 * sites; the token also stops a same-site page that is not ours).
 */
export function callerAuth(
  keys: readonly ApiKeyConfig[],
  sessions: AdminSessions | undefined,
  clock: { now(): number },
  /** Counts wrong keys per client address; a locked-out address gets 429 for its wrong keys. */
  throttle?: AuthThrottle,
): MiddlewareHandler<ApiEnv> {
  const authenticate = createAuthenticator(keys);
  return async (c, next) => {
    const authorization = c.req.header("authorization");
    const session =
      authorization === undefined ? sessions?.verify(getCookie(c, SESSION_COOKIE), clock.now()) : undefined;
    if (session) {
      if (!SAFE_METHODS.has(c.req.method) && !csrfMatches(session, c.req.header("x-csrf-token"))) {
        return problem({
          status: 403,
          kind: "csrf-failed",
          title: "CSRF token missing or wrong",
          detail: "Send the session's token (the admin page's csrf-token meta tag) as X-CSRF-Token",
        });
      }
      c.set("caller", { keyId: `admin:${session.user}` });
    } else {
      const caller = await throttledAuthenticate(c, authorization);
      if ("lockedForMs" in caller) return throttledResponse(caller.lockedForMs);
      c.set("caller", caller);
    }
    await next();
  };

  /**
   * Only wrong keys are throttled, after the check: a right key always passes (no coordinator round trip on the
   * hot path, and a client sharing a NAT with a scanner is not locked out). Keys are 256-bit random, so the point
   * is to stop scanners early and loudly, not to protect a guessable secret.
   */
  async function throttledAuthenticate(
    c: Context<ApiEnv>,
    authorization: string | undefined,
  ): Promise<Caller | { lockedForMs: number }> {
    try {
      return authenticate(authorization);
    } catch (err) {
      const ip = clientAddress(c);
      if (!throttle || !ip || !(err instanceof MailError) || err.kind !== "auth-failed") throw err;
      const wait = (await throttle.lockedFor({ ip })) || (await throttle.failed({ ip }));
      if (wait > 0) return { lockedForMs: wait };
      throw err;
    }
  }
}

/** 429 problem for a locked-out client, with Retry-After in seconds (RFC 6585 §4). */
export function throttledResponse(waitMs: number, detail?: string): Response {
  return problem({
    status: REPLY_TABLE["auth-throttled"].http,
    kind: "auth-throttled",
    title: REPLY_TABLE["auth-throttled"].title,
    detail: detail ?? `Too many failed logins from this address, try again in ${Math.ceil(waitMs / 1000)} s`,
    headers: { "retry-after": String(Math.ceil(waitMs / 1000)) },
  });
}

/** The peer address under @hono/node-server (its bindings); other runtimes (Lambda) have none here. */
export function clientAddress(c: Context<ApiEnv>): string | undefined {
  const env = c.env as { incoming?: IncomingMessage } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}
