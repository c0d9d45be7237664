// Computes the DKIM body hashes (RFC 6376 §3.4.3, §3.4.4, §3.7: sha256 of the canonicalised body) while a message
// streams past, so that signing at send time needs no second read of a body that may be 1 GB.
import { Transform, type TransformCallback } from "node:stream";
import { dkimBody } from "mailauth/lib/dkim/body/index.js";
import { RelaxedBodyHash } from "./relaxed-body.ts";

export type BodyCanonicalization = "relaxed" | "simple";
/** base64 sha256 body hashes by body canonicalisation. */
export type DkimBodyHashes = Partial<Record<BodyCanonicalization, string>>;

const CRLFCRLF = Buffer.from("\r\n\r\n");

/**
 * A pass-through Transform over a CRLF message (header block, blank line, body): everything after the first blank
 * line is fed to one hasher per canonicalisation. `hashes` is set once the stream has ended.
 */
export class DkimBodyHasher extends Transform {
  hashes: DkimBodyHashes | undefined;
  private readonly hashers: [BodyCanonicalization, { update(chunk: Buffer): void; digest(enc: "base64"): string }][];
  /** Bytes of the header section seen so far, kept only while its end is unknown (at most 3 bytes of it). */
  private tail: Buffer | undefined = Buffer.alloc(0);
  private atStart = true;

  /** `crlfOnly`: the message has CRLF line ends only (intake's normalised stream, a stored body). */
  constructor(canonicalizations: readonly BodyCanonicalization[], options: { crlfOnly?: boolean } = {}) {
    super();
    // Relaxed is ours (constant memory on endless lines); simple is mailauth's, which buffers only empty lines.
    this.hashers = [...new Set(canonicalizations)].map((c) => [
      c,
      c === "relaxed" ? new RelaxedBodyHash("sha256", options) : dkimBody(c, "sha256"),
    ]);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
    if (this.tail === undefined) {
      this.feed(chunk);
    } else {
      this.findBodyStart(chunk);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback) {
    // A message without a blank line has an empty body (RFC 6376 §3.4.3: an empty body hashes as CRLF / "").
    this.hashes = Object.fromEntries(this.hashers.map(([c, h]) => [c, h.digest("base64")]));
    callback();
  }

  private feed(chunk: Buffer) {
    if (chunk.length) for (const [, h] of this.hashers) h.update(chunk);
  }

  private findBodyStart(chunk: Buffer) {
    if (chunk.length === 0) return;
    // RFC 5322 §2.1: a message that starts with CRLF has no header fields; its body follows at once.
    if (this.atStart) {
      this.atStart = false;
      if (chunk.length >= 2 && chunk[0] === 0x0d && chunk[1] === 0x0a) {
        this.tail = undefined;
        this.feed(chunk.subarray(2));
        return;
      }
    }
    const prev = this.tail!;
    const joined = prev.length ? Buffer.concat([prev, chunk]) : chunk;
    const end = joined.indexOf(CRLFCRLF);
    if (end === -1) {
      this.tail = Buffer.from(joined.subarray(Math.max(0, joined.length - 3)));
      return;
    }
    this.tail = undefined;
    this.feed(joined.subarray(end + 4));
  }
}
