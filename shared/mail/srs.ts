// Sender Rewriting Scheme (SRS, as specified by Shevek's paper and libsrs2): forwarded mail gets a MAIL FROM in our
// domain so SPF passes, and bounces to that address find their way back. SRS0 rewrites an original address; SRS1
// rewrites an address that is already SRS0 of another forwarder (so the chain does not grow).
//   SRS0=HHHH=TT=orig-domain=orig-local@srs-domain     SRS1=HHHH=first-hop-domain==SRS0-part@srs-domain
// HHHH: the first 4 characters of base64(HMAC-SHA1(secret, lower-cased data)); TT: days (mod 1024) in base32.
import { createHmac, timingSafeEqual } from "node:crypto";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DAY_MS = 86_400_000;
const PRECISION = 1024; // 2 base32 characters

export interface SrsOptions {
  /** HMAC secret; every host that may receive the bounces must know it. */
  secret: string;
  /** The domain of the rewritten addresses (its MX must reach us). */
  domain: string;
  /** How many days a rewritten address is valid (libsrs2: 21). */
  maxAgeDays?: number;
  now?: () => number;
}

export class SrsError extends Error {
  override name = "SrsError";
}

export class Srs {
  private readonly maxAge: number;
  private readonly now: () => number;

  constructor(private readonly options: SrsOptions) {
    if (!options.secret) throw new SrsError("SRS needs a secret");
    this.maxAge = options.maxAgeDays ?? 21;
    this.now = options.now ?? Date.now;
  }

  /** True for an address this scheme made (SRS0 or SRS1 local part at our domain). */
  isSrs(address: string): boolean {
    const at = address.lastIndexOf("@");
    return at > 0 && /^SRS[01][=+-]/i.test(address) && address.slice(at + 1).toLowerCase() === this.domain;
  }

  /** The rewritten sender for `address` (SRS0, or SRS1 for an address that is already SRS0 elsewhere). */
  forward(address: string): string {
    const at = address.lastIndexOf("@");
    if (at <= 0) throw new SrsError(`Not an address: ${address}`);
    const local = address.slice(0, at);
    const host = address.slice(at + 1);
    if (host.toLowerCase() === this.domain && /^SRS[01][=+-]/i.test(local)) return address; // ours already
    const srs1 = /^SRS1[=+-]([^=]+)=([^=]*)=(.*)$/i.exec(local);
    if (srs1) {
      // Already SRS1: keep its first hop, re-sign for our domain.
      const [, , firstHop, rest] = srs1;
      return `SRS1=${this.hash(firstHop!, rest!)}=${firstHop}==${rest}@${this.domain}`;
    }
    const srs0 = /^SRS0([=+-].*)$/i.exec(local);
    if (srs0) {
      const rest = srs0[1]!.slice(1);
      return `SRS1=${this.hash(host, rest)}=${host}==${rest}@${this.domain}`;
    }
    const ts = this.timestamp();
    return `SRS0=${this.hash(ts, host, local)}=${ts}=${host}=${local}@${this.domain}`;
  }

  /** The address a bounce to `address` is for; throws SrsError when it is not ours, forged or expired. */
  reverse(address: string): string {
    const at = address.lastIndexOf("@");
    const local = at > 0 ? address.slice(0, at) : "";
    if (!this.isSrs(address)) throw new SrsError("Not an SRS address of this domain");
    const srs0 = /^SRS0[=+-]([^=]{4})=([^=]{2})=([^=]+)=(.*)$/i.exec(local);
    if (srs0) {
      const [, hash, ts, host, orig] = srs0;
      this.check(hash!, [ts!, host!, orig!]);
      if (this.ageDays(ts!) > this.maxAge) throw new SrsError("SRS address expired");
      return `${orig}@${host}`;
    }
    const srs1 = /^SRS1[=+-]([^=]{4})=([^=]+)==(.*)$/i.exec(local);
    if (srs1) {
      const [, hash, firstHop, rest] = srs1;
      this.check(hash!, [firstHop!, rest!]);
      return `SRS0=${rest}@${firstHop}`; // back to the forwarder before us, which checks its own part
    }
    throw new SrsError("Malformed SRS address");
  }

  private get domain() {
    return this.options.domain.toLowerCase();
  }

  private hash(...parts: string[]): string {
    const mac = createHmac("sha1", this.options.secret);
    for (const p of parts) mac.update(p.toLowerCase());
    return mac.digest("base64").slice(0, 4);
  }

  private check(hash: string, parts: string[]) {
    const expected = Buffer.from(this.hash(...parts).toLowerCase());
    const given = Buffer.from(hash.toLowerCase());
    // Compared case-insensitively: some MTAs lower-case local parts (libsrs2 does the same).
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new SrsError("Bad SRS hash");
  }

  private timestamp(): string {
    const days = Math.floor(this.now() / DAY_MS) % PRECISION;
    return BASE32[days >> 5]! + BASE32[days & 31]!;
  }

  private ageDays(ts: string): number {
    const t = ts.toUpperCase();
    const then = BASE32.indexOf(t[0]!) * 32 + BASE32.indexOf(t[1]!);
    if (then < 0 || BASE32.indexOf(t[0]!) < 0 || BASE32.indexOf(t[1]!) < 0) return Number.POSITIVE_INFINITY;
    const today = Math.floor(this.now() / DAY_MS) % PRECISION;
    return (today - then + PRECISION) % PRECISION;
  }
}
