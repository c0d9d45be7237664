// Password and API key hashing: scrypt for user passwords, sha256 for high-entropy API keys; constant-time checks.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;
const N = 16_384;
const r = 8;
const p = 1;
const KEY_LEN = 32;

/** "scrypt$N$r$p$salt$hash" (base64url parts), stored in config instead of the password. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEY_LEN, { N, r, p });
  return ["scrypt", N, r, p, salt.toString("base64url"), hash.toString("base64url")].join("$");
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, rr, pp, salt, hash] = stored.split("$");
  if (kind !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64url");
  const actual = await scrypt(password, Buffer.from(salt, "base64url"), expected.length, {
    N: Number(n),
    r: Number(rr),
    p: Number(pp),
    maxmem: 64 * 1024 * 1024,
  });
  return timingSafeEqual(actual, expected);
}

/** "sha256:<hex>": API keys are random and long, so a fast hash is enough and keeps each request cheap. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash("sha256").update(key).digest("hex")}`;
}

export function newApiKey(): string {
  return `zr_${randomBytes(24).toString("base64url")}`;
}

/** Compares two "sha256:<hex>" strings in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
