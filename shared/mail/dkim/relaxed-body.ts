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
const SP_SP = Buffer.from("  ");
const SP_CR = Buffer.from(" \r");

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
    if (chunk.indexOf(TAB) !== -1 || chunk.indexOf(SP_SP) !== -1 || chunk.indexOf(SP_CR) !== -1) return false;
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
