// DKIM keys from the config (inline PEM or a file), checked once at start, and the choice of keys for a message:
// those of its author domain (From:) — or a parent domain — and, with signTransportDomain, of the EHLO name.
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { domainToASCII } from "node:url";
import type { Config } from "../../config/schema.ts";
import type { Canonicalization, DkimAlgorithm, DkimKey } from "./sign.ts";

/** RFC 8301 §3.2 asks for at least 1024 bits; we refuse keys shorter than 2048 (what verifiers now expect). */
const MIN_RSA_BITS = 2048;

export class DkimKeyError extends Error {
  override name = "DkimKeyError";
}

export function normalizeDomain(domain: string): string {
  const d = domain.trim().replace(/\.$/, "").toLowerCase();
  return domainToASCII(d) || d;
}

/** Loads and checks every configured key; throws DkimKeyError naming the key at fault. */
export function loadDkimKeys(dkim: Config["dkim"]): DkimKey[] {
  return dkim.keys.map((k, i) => {
    const where = `dkim.keys[${i}] (${k.selector}._domainkey.${k.domain})`;
    let pem: string;
    try {
      pem = k.privateKey ?? readFileSync(k.privateKeyFile!, "utf8");
    } catch (err) {
      throw new DkimKeyError(`${where}: cannot read ${k.privateKeyFile}: ${(err as Error).message}`);
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(pem);
    } catch (err) {
      throw new DkimKeyError(`${where}: not a PEM private key: ${(err as Error).message}`);
    }
    const type = privateKey.asymmetricKeyType;
    const algorithm: DkimAlgorithm = k.algorithm ?? (type === "ed25519" ? "ed25519-sha256" : "rsa-sha256");
    if (algorithm.split("-")[0] !== type) {
      throw new DkimKeyError(`${where}: a ${type} key cannot make ${algorithm} signatures`);
    }
    const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (type === "rsa" && bits < MIN_RSA_BITS) {
      throw new DkimKeyError(`${where}: RSA key of ${bits} bits; at least ${MIN_RSA_BITS} are required`);
    }
    return {
      domain: normalizeDomain(k.domain),
      selector: k.selector,
      privateKey,
      algorithm,
      canonicalization: (k.canonicalization ?? dkim.canonicalization) as Canonicalization,
    };
  });
}

/** Keys of the domain itself, else of its closest parent domain that has keys. */
export function keysForDomain(keys: readonly DkimKey[], domain: string): DkimKey[] {
  const labels = normalizeDomain(domain).split(".");
  for (let i = 0; i < labels.length - 1; i++) {
    const candidate = labels.slice(i).join(".");
    const found = keys.filter((k) => k.domain === candidate);
    if (found.length) return found;
  }
  return [];
}

/** The domain of the (first) author address of a From field value. */
export function authorDomain(fromValue: string | undefined): string | undefined {
  if (!fromValue) return undefined;
  const angle = /<([^<>]*@[^<>]*)>/.exec(fromValue);
  const address = angle ? angle[1]! : (/[^\s<>,;:"]+@[^\s<>,;:"]+/.exec(fromValue)?.[0] ?? "");
  const at = address.lastIndexOf("@");
  return at > 0 ? address.slice(at + 1).replace(/[\s>]+$/, "") : undefined;
}

/** The keys a message is signed with: its author domain's, plus the EHLO name's with signTransportDomain. */
export function keysForMessage(
  keys: readonly DkimKey[],
  fromValue: string | undefined,
  transportDomain: string | undefined,
): DkimKey[] {
  const author = authorDomain(fromValue);
  const chosen = author ? keysForDomain(keys, author) : [];
  if (transportDomain) {
    for (const k of keysForDomain(keys, transportDomain)) if (!chosen.includes(k)) chosen.push(k);
  }
  return chosen;
}

/** The TXT record that publishes a key's public half (RFC 6376 §3.6.1; RFC 8463 §4.2: raw 32 bytes for Ed25519). */
export function dnsRecordFor(privateKey: KeyObject): string {
  const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  if (privateKey.asymmetricKeyType === "ed25519") {
    return `v=DKIM1; k=ed25519; p=${spki.subarray(spki.length - 32).toString("base64")}`;
  }
  return `v=DKIM1; k=rsa; p=${spki.toString("base64")}`;
}
