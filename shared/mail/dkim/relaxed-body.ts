// The "relaxed" DKIM body hash (RFC 6376 §3.4.4) computed byte by byte in constant memory. mailauth's RelaxedHash
// keeps the current line and re-concatenates it with every chunk, so one 50 MB line without a break costs
// hundreds of MB and quadratic time; a hostile sender must not be able to do that to intake.
import { createHash, type Hash } from "node:crypto";
import { onlyCrlfLineEnds } from "../line-endings.ts";

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const CRLF = Buffer.from("\r\n");
const SP_BUF = Buffer.from(" ");
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const NO_WORDS = new Uint32Array(0);

/**
 * Hashes a CRLF body as relaxed canonicalisation defines it: WSP runs become one SP, WSP at a line's end goes,
 * empty lines at the end go, and a non-empty body ends in CRLF. Line breaks are counted, not buffered; a bare CR
 * or LF (which intake never passes on) counts as a line break.
 */
export class RelaxedBodyHash {
  private readonly hash: Hash;
  /** Line breaks seen since the last content byte: written only once more content follows. */
  private pendingBreaks = 0;
  /** A WSP run since the last content byte on this line. */
  private pendingSpace = false;
  private hasContent = false;
  private lastWasCr = false;

  /** The input has CRLF line ends only (it came through CrlfNormalizer): no need to look for bare ones. */
  private readonly crlfOnly: boolean;

  constructor(algorithm = "sha256", options: { crlfOnly?: boolean } = {}) {
    this.hash = createHash(algorithm);
    this.crlfOnly = options.crlfOnly ?? false;
  }

  /** Output of one update; each byte written stands for at least one byte read, so chunk.length is enough. */
  private scratch = Buffer.alloc(0);

  update(chunk: Buffer): void {
    if (this.updateAsIs(chunk)) return;
    if (this.scratch.length < chunk.length) this.scratch = Buffer.allocUnsafe(Math.max(chunk.length, 64 * 1024));
    const out = this.scratch;
    let o = 0;
    const flushOut = () => {
      if (o) this.hash.update(out.subarray(0, o));
      o = 0;
    };
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === CR || byte === LF) {
        // CRLF is one break; a lone CR or LF is one too.
        if (!(byte === LF && this.lastWasCr)) this.pendingBreaks++;
        this.lastWasCr = byte === CR;
        this.pendingSpace = false; // trailing whitespace of the line is dropped
        continue;
      }
      this.lastWasCr = false;
      if (byte === SP || byte === TAB) {
        this.pendingSpace = true;
        continue;
      }
      if (this.pendingBreaks) {
        flushOut();
        this.writeBreaks();
      }
      if (this.pendingSpace) out[o++] = SP;
      this.pendingSpace = false;
      out[o++] = byte;
      this.hasContent = true;
    }
    flushOut();
  }

  /**
   * Most chunks need no rewriting: no TAB, no WSP run, no WSP before a line end, every line end a CRLF. Such a
   * chunk is hashed as it is in one update (native searches instead of the byte loop, ~10x faster on text), only
   * the line ends at its end wait, as empty lines at the end are dropped. False when the byte loop must do it.
   */
  private updateAsIs(chunk: Buffer): boolean {
    const n = chunk.length;
    if (n === 0) return true;
    // Not in the middle of a WSP run or a CRLF, and not ending in one that the next chunk may continue.
    if (this.pendingSpace || this.lastWasCr) return false;
    const last = chunk[n - 1];
    if (last === SP || last === TAB || last === CR) return false;
    if (mayNeedRewriting(chunk)) return false;
    // A lone CR or LF is a line break of its own in the byte loop: leave those to it. (Intake's input has none,
    // and skipping the search there saves ~4% of the event loop's time at 100 KB.)
    if (!this.crlfOnly && !onlyCrlfLineEnds(chunk)) return false;
    let end = n;
    let breaks = 0;
    while (end >= 2 && chunk[end - 1] === LF && chunk[end - 2] === CR) {
      end -= 2;
      breaks++;
    }
    if (end > 0) {
      this.writeBreaks();
      this.hash.update(end === n ? chunk : chunk.subarray(0, end));
      this.hasContent = true;
    }
    this.pendingBreaks += breaks;
    return true;
  }

  digest(encoding: "base64" | "hex"): string {
    // A last line without CRLF keeps its trailing WSP as one SP: mailauth and dkimpy (the verifiers out there)
    // add the CRLF before stripping, so we must too.
    if (this.pendingSpace) {
      this.writeBreaks();
      this.hash.update(SP_BUF);
      this.hasContent = true;
    }
    // Empty lines at the end are ignored; a non-empty body ends with exactly one CRLF.
    if (this.hasContent) this.hash.update(CRLF);
    return this.hash.digest(encoding);
  }

  private writeBreaks() {
    if (this.pendingBreaks <= 1) {
      if (this.pendingBreaks === 1) this.hash.update(CRLF);
      this.pendingBreaks = 0;
      return;
    }
    // Empty lines inside the body count; they are written in blocks so a million of them is no million updates.
    const block = Buffer.from("\r\n".repeat(Math.min(this.pendingBreaks, 4096)));
    while (this.pendingBreaks > 0) {
      const n = Math.min(this.pendingBreaks, 4096);
      this.hash.update(n === 4096 ? block : block.subarray(0, n * 2));
      this.pendingBreaks -= n;
    }
  }
}

/** The high bit of each byte of `word` that is zero, and now and then of a byte right above a zero one. */
function zeroBytes(word: number): number {
  return (word - 0x01010101) & ~word & 0x80808080;
}

/**
 * False when `chunk` holds no TAB, no two SPs in a row and no SP before a CR: nothing relaxed canonicalisation
 * rewrites. Four bytes at a time: text has an SP every ~6 bytes, and Buffer#indexOf("  ") stops at each one to
 * compare the next byte (~120 µs per 100 KB, ~7% of the event loop for 100 KB JSON messages); this takes ~25 µs.
 * It may say true of a chunk that needs nothing (zeroBytes flags a byte above a match now and then), never false
 * of one that does: the byte loop then does the work, and the hash is the same.
 */
export function mayNeedRewriting(chunk: Buffer): boolean {
  const n = chunk.length;
  // TABs are rare, and many chunks have no SP at all (base64, smtp-source's XXXX lines): memchr settles those.
  if (chunk.indexOf(TAB) !== -1) return true;
  if (chunk.indexOf(SP) === -1) return false;
  if (!LITTLE_ENDIAN) return chunk.indexOf("  ") !== -1 || chunk.indexOf(" \r") !== -1;
  const pairAt = (i: number) => chunk[i] === SP && (chunk[i + 1] === SP || chunk[i + 1] === CR);
  // Pairs that start before the first 4-byte boundary (the last of them ends in the first word).
  const head = Math.min(n, (4 - (chunk.byteOffset & 3)) & 3);
  for (let i = 0; i < head; i++) if (pairAt(i)) return true;
  const count = (n - head) >>> 2;
  const words = count ? new Uint32Array(chunk.buffer, chunk.byteOffset + head, count) : NO_WORDS;
  let previous = -1; // the last byte of the word before
  for (let k = 0; k < count; k++) {
    const word = words[k]!;
    const spaces = zeroBytes(word ^ 0x20202020);
    if (spaces !== 0 || previous === SP) {
      // An SP (byte j) followed by an SP or a CR (byte j + 1); bytes are little-endian, so j + 1 is 8 bits up.
      if (((spaces << 8) & (spaces | zeroBytes(word ^ 0x0d0d0d0d))) !== 0) return true;
      // Across words: the last byte of the previous word and the first of this one (both read exactly).
      const first = word & 0xff;
      if (previous === SP && (first === SP || first === CR)) return true;
    }
    previous = word >>> 24;
  }
  // Pairs that start in the last word's last byte or after it.
  for (let i = Math.max(0, head + count * 4 - 1); i < n - 1; i++) if (pairAt(i)) return true;
  return false;
}
