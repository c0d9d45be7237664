// Brute-force throttling of logins (SMTP AUTH, API keys, the web admin): failures are counted per client network
// and per username in the Coordinator, so a lockout holds on every host of a cluster, not just the one attacked.
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import type { Coordinator } from "../ports/coordinator.ts";
import { unmapIPv4 } from "./networks.ts";

export interface AuthThrottleSettings {
  /** Failures from one client network within `window` before it is locked out. */
  ipFailures: number;
  /** Failures for one username (from anywhere) within `window` before it is locked out. */
  userFailures: number;
  window: number;
  /** First lockout; each further lockout of the same subject within a day doubles it, up to `maxLockout`. */
  lockout: number;
  maxLockout: number;
}

/** Who is trying: the client address and, where the protocol has one, the username. */
export interface AuthSubject {
  ip?: string | undefined;
  user?: string | undefined;
}

export interface AuthThrottle {
  /**
   * Milliseconds until the subject may try again; 0 = now. Asked before the credentials are checked, so a locked
   * subject learns nothing about them. A coordinator outage answers 0: logins go on, the password still decides.
   */
  lockedFor(subject: AuthSubject): Promise<number>;
  /** Counts one failure; at a limit the subject is locked out. Resolves with the lockout (ms), 0 when none. */
  failed(subject: AuthSubject): Promise<number>;
}

const DAY_MS = 86_400_000;

export function createAuthThrottle(
  coordinator: Coordinator,
  settings: AuthThrottleSettings,
  options: { onError?: (err: unknown) => void; now?: () => number } = {},
): AuthThrottle {
  const now = options.now ?? Date.now;
  const onError = options.onError ?? (() => {});
  const subjects = (s: AuthSubject) => {
    const out: { key: string; limit: number }[] = [];
    if (s.ip) out.push({ key: `ip:${clientNetwork(s.ip)}`, limit: settings.ipFailures });
    if (s.user !== undefined && s.user !== "")
      out.push({ key: `user:${userKey(s.user)}`, limit: settings.userFailures });
    return out;
  };

  return {
    async lockedFor(subject) {
      try {
        let wait = 0;
        for (const { key } of subjects(subject)) {
          const until = await coordinator.getFlag(`auth-lock:${key}`);
          // The flag's TTL decides whether a lock holds; its value (the locker's clock) only says for how long.
          if (until !== undefined) wait = Math.max(wait, Number(until) - now(), 1000);
        }
        return wait;
      } catch (err) {
        onError(err);
        return 0;
      }
    },

    async failed(subject) {
      try {
        let locked = 0;
        for (const { key, limit } of subjects(subject)) {
          const failures = await coordinator.increment(`auth-fail:${key}`, 1, settings.window);
          if (failures < limit) continue;
          // Back-off: the n-th lockout of a day lasts lockout × 2^(n-1).
          const lockouts = await coordinator.increment(`auth-lockouts:${key}`, 1, DAY_MS);
          const ms = Math.min(settings.maxLockout, settings.lockout * 2 ** Math.min(lockouts - 1, 30));
          await coordinator.setFlag(`auth-lock:${key}`, String(now() + ms), ms);
          locked = Math.max(locked, ms);
        }
        return locked;
      } catch (err) {
        onError(err);
        return 0;
      }
    },
  };
}

/**
 * The unit an attacker cannot cheaply multiply: an IPv4 address, or the /64 of an IPv6 address (one host usually
 * has a whole /64 to rotate through).
 */
export function clientNetwork(address: string): string {
  const plain = unmapIPv4(address);
  if (isIP(plain) !== 6) return plain;
  return `${expandIPv6(plain).slice(0, 4).join(":")}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head = "", tail] = address.toLowerCase().split("%")[0]!.split("::") as [string, string | undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4 forms that are not plain mapped addresses) counts as two groups.
  const last = right.length ? right : left;
  if (last.length && last.at(-1)!.includes(".")) {
    const [a, b, c, d] = last.pop()!.split(".").map(Number) as [number, number, number, number];
    last.push(((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
  }
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill("0"), ...right].map((g) => g.replace(/^0+(?=.)/, ""));
}

/** Usernames are case-insensitive here (an attacker must not get a fresh budget per spelling); long ones hashed. */
function userKey(user: string): string {
  const lower = user.toLowerCase();
  return lower.length <= 64 && /^[\x21-\x7e]+$/.test(lower)
    ? lower
    : `sha256:${createHash("sha256").update(lower).digest("hex")}`;
}
