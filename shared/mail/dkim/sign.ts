// Makes DKIM-Signature header fields (RFC 6376, RFC 8463) from a message's header block and its precomputed body
// hash: the body is never read here. Header canonicalisation (§3.4.1, §3.4.2) works on the raw bytes ("binary"
// strings), so UTF-8 headers (RFC 6532) are signed exactly as they are sent.
import { createHash, type KeyObject, sign } from "node:crypto";
import type { BodyCanonicalization, DkimBodyHashes } from "./body-hash.ts";

export type Canonicalization = `${BodyCanonicalization}/${BodyCanonicalization}`;
export type DkimAlgorithm = "rsa-sha256" | "ed25519-sha256";

export interface DkimKey {
  /** Signing domain (d=), lower-cased A-labels. */
  domain: string;
  selector: string;
  privateKey: KeyObject;
  algorithm: DkimAlgorithm;
  canonicalization: Canonicalization;
}

export interface DkimSignOptions {
  /** Header fields to sign, every instance present (RFC 6376 §5.4). */
  headerFields: readonly string[];
  /** Fields signed once more than they occur, so that adding one later breaks the signature (§8.15). */
  overSign: readonly string[];
  /** Signature time (t=). */
  now: Date;
  /** Signature lifetime in ms (x=), none when undefined. */
  expiresIn?: number;
}

interface RawField {
  /** Lower-cased name. */
  key: string;
  /** The whole field as it appears, folding included, without the final CRLF ("binary" string). */
  raw: string;
}

/** Splits a header block ("binary" string, CRLF lines) into fields, continuation lines kept with their field. */
export function rawFields(block: string): RawField[] {
  const fields: RawField[] = [];
  for (const line of block.split("\r\n")) {
    if (line === "") continue;
    if ((line[0] === " " || line[0] === "\t") && fields.length) {
      fields[fields.length - 1]!.raw += `\r\n${line}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    fields.push({ key: line.slice(0, colon).trim().toLowerCase(), raw: line });
  }
  return fields;
}

/** RFC 6376 §3.4.1 "simple" and §3.4.2 "relaxed" header canonicalisation of one field, with its CRLF. */
export function canonicalizeHeader(raw: string, how: BodyCanonicalization): string {
  if (how === "simple") return `${raw}\r\n`;
  const colon = raw.indexOf(":");
  const name = raw.slice(0, colon).trim().toLowerCase();
  const value = raw
    .slice(colon + 1)
    .replace(/\r\n/g, "")
    .replace(/[ \t]+/g, " ")
    .trim();
  return `${name}:${value}\r\n`;
}

/**
 * One DKIM-Signature field (folded, CRLF-terminated) per key. A key whose body canonicalisation has no hash in
 * `hashes` is skipped (the caller computes missing hashes first).
 */
export async function dkimSignatures(
  headerBlock: string,
  hashes: DkimBodyHashes,
  keys: readonly DkimKey[],
  options: DkimSignOptions,
): Promise<string> {
  const fields = rawFields(headerBlock);
  if (!fields.some((f) => f.key === "from")) return ""; // RFC 6376 §5.4: From MUST be signed
  const names = signedNames(fields, options);
  const signatures = keys.map((key) => {
    const [headerCanon, bodyCanon] = key.canonicalization.split("/") as [BodyCanonicalization, BodyCanonicalization];
    const bodyHash = hashes[bodyCanon];
    return bodyHash ? signOne(fields, names, key, headerCanon, bodyHash, options) : "";
  });
  return (await Promise.all(signatures)).join("");
}

/** The h= list: each configured field once per instance, over-signed fields once more (absent ones once only). */
function signedNames(fields: RawField[], options: DkimSignOptions): string[] {
  // From is always signed and over-signed, whatever the configuration says (§5.4, §8.15).
  const overSign = new Set([...options.overSign, "from"].map((n) => n.toLowerCase()));
  const names: string[] = [];
  const seen = new Set<string>();
  const list = options.headerFields.some((n) => n.toLowerCase() === "from")
    ? options.headerFields
    : ["From", ...options.headerFields];
  for (const name of list) {
    const key = name.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    const count = fields.filter((f) => f.key === key).length;
    const times = overSign.has(key) ? count + 1 : count;
    for (let i = 0; i < times; i++) names.push(name);
  }
  return names;
}

async function signOne(
  fields: RawField[],
  names: string[],
  key: DkimKey,
  headerCanon: BodyCanonicalization,
  bodyHash: string,
  options: DkimSignOptions,
): Promise<string> {
  // §5.4.2: instances of a repeated field are signed from the bottom up; a name beyond them signs nothing.
  const remaining = new Map<string, RawField[]>();
  for (const f of fields) remaining.set(f.key, [...(remaining.get(f.key) ?? []), f]);
  let data = "";
  for (const name of names) {
    const field = remaining.get(name.toLowerCase())?.pop();
    if (field) data += canonicalizeHeader(field.raw, headerCanon);
  }
  const t = Math.floor(options.now.getTime() / 1000);
  const tags = [
    "v=1",
    `a=${key.algorithm}`,
    `c=${key.canonicalization}`,
    `d=${key.domain}`,
    `s=${key.selector}`,
    `t=${t}`,
    ...(options.expiresIn ? [`x=${t + Math.ceil(options.expiresIn / 1000)}`] : []),
    `h=${names.join(":")}`,
    `bh=${bodyHash}`,
  ];
  // Folded at tag boundaries; b= starts a line of its own so its value folds without touching other tags.
  const unsigned = `DKIM-Signature: ${foldTags(tags)};\r\n b=`;
  // §3.7: the signature field itself, b= empty and without its final CRLF, is hashed last.
  data += canonicalizeHeader(unsigned, headerCanon).slice(0, -2);
  const input = Buffer.from(data, "latin1");
  // RFC 8463 §3: Ed25519 signs the sha256 of the data (PureEdDSA over the hash); RSA signs with SHA-256.
  const signature =
    key.algorithm === "ed25519-sha256"
      ? await signOnPool(null, createHash("sha256").update(input).digest(), key.privateKey)
      : await signOnPool("sha256", input, key.privateKey);
  return `${unsigned}${foldBase64(signature.toString("base64"))}\r\n`;
}

/**
 * crypto.sign with a callback runs on libuv's thread pool: an RSA-2048 signature costs ~0.3 ms of CPU per message,
 * which the event loop (busy with every SMTP session) no longer spends; the other core does.
 */
function signOnPool(algorithm: string | null, data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => sign(algorithm, data, key, (err, sig) => (err ? reject(err) : resolve(sig))));
}

/** 72 characters per line, continuation lines indented (slices: a /.{72}(?=.)/g replace cost ~0.6% of intake). */
function foldBase64(value: string): string {
  let out = value.slice(0, 72);
  for (let at = 72; at < value.length; at += 72) out += `\r\n  ${value.slice(at, at + 72)}`;
  return out;
}

function foldTags(tags: string[]): string {
  const lines: string[] = [];
  let line = "";
  for (const tag of tags) {
    const piece = tag.startsWith("h=") ? foldList(tag) : tag;
    if (line && line.length + piece.length + 2 > 76) {
      lines.push(`${line};`);
      line = piece;
    } else {
      line = line ? `${line}; ${piece}` : piece;
    }
  }
  lines.push(line);
  return lines.join("\r\n ");
}

/** A long h= list folds after its colons (FWS is allowed around them, RFC 6376 §3.5). */
function foldList(tag: string): string {
  const parts = tag.split(":");
  let out = "";
  let lineLength = 0;
  for (const [i, part] of parts.entries()) {
    const piece = i === 0 ? part : `:${part}`;
    if (lineLength + piece.length > 72 && i > 0) {
      out += `\r\n ${piece}`;
      lineLength = piece.length + 1;
    } else {
      out += piece;
      lineLength += piece.length;
    }
  }
  return out;
}
