// Web admin sessions: a signed cookie (HMAC-SHA256) naming the user and its expiry — no server-side store, so any
// host with the same `admin.sessionSecret` accepts it — and a CSRF token derived from it for mutations.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "zr_admin";

export interface AdminSession {
  user: string;
  expiresAt: number;
  /** Must come back as `X-CSRF-Token` on every request that changes something. */
  csrf: string;
}

export interface AdminSessions {
  ttlMs: number;
  issue(user: string, now: number): string;
  verify(token: string | undefined, now: number): AdminSession | undefined;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export function createAdminSessions(options: { secret?: string | undefined; ttlMs: number }): AdminSessions {
  // Without a configured secret, a random one: sessions end with the process (documented).
  const secret = options.secret ?? randomBytes(32).toString("hex");
  const sign = (data: string) => createHmac("sha256", secret).update(data).digest();
  const csrfOf = (token: string) => b64(sign(`csrf:${token}`));

  return {
    ttlMs: options.ttlMs,
    issue(user, now) {
      const payload = b64(JSON.stringify({ u: user, e: now + options.ttlMs, n: randomBytes(8).toString("hex") }));
      return `${payload}.${b64(sign(payload))}`;
    },
    verify(token, now) {
      if (!token) return undefined;
      const [payload, mac] = token.split(".");
      if (!payload || !mac) return undefined;
      const expected = sign(payload);
      const given = Buffer.from(mac, "base64url");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      let data: { u?: unknown; e?: unknown };
      try {
        data = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
      } catch {
        return undefined;
      }
      if (typeof data.u !== "string" || typeof data.e !== "number" || data.e <= now) return undefined;
      return { user: data.u, expiresAt: data.e, csrf: csrfOf(token) };
    },
  };
}

/** True when `given` is the session's CSRF token (constant time). */
export function csrfMatches(session: AdminSession, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
