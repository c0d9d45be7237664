// DANE for SMTP (RFC 7672): which TLSA records are usable and whether a server's certificate chain matches them.
// Pure: the records come from a DNSSEC-validated answer (secure-dns.ts), the chain from the TLS session.
import { createHash, createPublicKey, X509Certificate } from "node:crypto";

export interface Tlsa {
  /** 2 = DANE-TA (trust anchor), 3 = DANE-EE (the server's own key or certificate). */
  usage: number;
  /** 0 = the whole certificate, 1 = its SubjectPublicKeyInfo. */
  selector: number;
  /** 0 = the data itself, 1 = SHA-256, 2 = SHA-512. */
  matchingType: number;
  data: Buffer;
}

export type DaneVerdict = { ok: true; usage: number } | { ok: false; reason: string };

/**
 * RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are not used for SMTP, nor unknown selectors or matching types.
 * A secure TLSA RRset with no usable record still requires TLS, unauthenticated (RFC 7672 §2.2).
 */
export function usableTlsa(records: readonly Tlsa[]): Tlsa[] {
  return records.filter((r) => (r.usage === 2 || r.usage === 3) && r.selector <= 1 && r.matchingType <= 2);
}

function selected(record: Tlsa, cert: X509Certificate): Buffer {
  return record.selector === 0 ? cert.raw : cert.publicKey.export({ type: "spki", format: "der" });
}

function digest(matchingType: number, data: Buffer): Buffer {
  if (matchingType === 1) return createHash("sha256").update(data).digest();
  if (matchingType === 2) return createHash("sha512").update(data).digest();
  return data;
}

/** The record's association data matches this certificate (RFC 6698 §2.1). */
export function tlsaMatches(record: Tlsa, cert: X509Certificate): boolean {
  return digest(record.matchingType, selected(record, cert)).equals(record.data);
}

/**
 * Verifies a server's chain (leaf first, as presented) against usable TLSA records:
 * - DANE-EE(3): the leaf matches; neither names nor validity dates are checked (RFC 7672 §3.1.1).
 * - DANE-TA(2): a certificate of the chain matches (or, selector 1 with full data, the key that signed the last
 *   one), the leaf chains up to it by signature, is within its validity period and carries one of `names`
 *   (the MX host name, RFC 7672 §3.2.3).
 */
export function verifyDane(
  records: readonly Tlsa[],
  chain: readonly X509Certificate[],
  names: readonly string[],
  now: Date = new Date(),
): DaneVerdict {
  const leaf = chain[0];
  if (!leaf) return { ok: false, reason: "the server sent no certificate" };
  const usable = usableTlsa(records);
  if (usable.some((r) => r.usage === 3 && tlsaMatches(r, leaf))) return { ok: true, usage: 3 };
  const anchors = usable.filter((r) => r.usage === 2);
  if (anchors.length) {
    const anchoredAt = trustAnchorIndex(anchors, chain);
    if (anchoredAt !== undefined) {
      if (!signedUpTo(chain, anchoredAt)) return { ok: false, reason: "the chain does not lead to the DANE-TA anchor" };
      if (now < new Date(leaf.validFrom) || now > new Date(leaf.validTo)) {
        return { ok: false, reason: "the certificate is outside its validity period" };
      }
      if (!names.some((n) => leaf.checkHost(n) !== undefined)) {
        return { ok: false, reason: `the certificate names none of ${names.join(", ")}` };
      }
      return { ok: true, usage: 2 };
    }
  }
  return { ok: false, reason: "no TLSA record matches the certificate chain" };
}

/** Index in the chain whose certificate is the trust anchor; chain.length = the key that signed the last one. */
function trustAnchorIndex(anchors: Tlsa[], chain: readonly X509Certificate[]): number | undefined {
  // The leaf itself is never its own DANE-TA anchor (that would be DANE-EE with extra steps, RFC 7671 §5.2.2).
  for (let i = 1; i < chain.length; i++) if (anchors.some((r) => tlsaMatches(r, chain[i]!))) return i;
  // RFC 7671 §5.2.2: a TA published as a full public key (selector 1, matching 0) need not be in the chain.
  const last = chain[chain.length - 1]!;
  for (const r of anchors) {
    if (r.selector !== 1 || r.matchingType !== 0) continue;
    try {
      if (last.verify(createPublicKey({ key: r.data, format: "der", type: "spki" }))) return chain.length;
    } catch {
      // not a key Node can read: not this anchor
    }
  }
  return undefined;
}

/** Each certificate below `top` is issued and signed by the next one (up to the anchor or its bare key). */
function signedUpTo(chain: readonly X509Certificate[], top: number): boolean {
  for (let j = 0; j < Math.min(top, chain.length - 1); j++) {
    const cert = chain[j]!;
    const issuer = chain[j + 1]!;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) return false;
  }
  return true;
}

/** The presented chain, leaf first, from `tls.TLSSocket#getPeerCertificate(true)`. */
export function chainOf(peer: { raw?: Buffer; issuerCertificate?: unknown } | undefined): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let cur = peer as { raw?: Buffer; issuerCertificate?: unknown } | undefined;
  while (cur?.raw && chain.length < 10) {
    const cert = new X509Certificate(cur.raw);
    if (seen.has(cert.fingerprint256)) break; // a self-signed root points at itself
    seen.add(cert.fingerprint256);
    chain.push(cert);
    cur = cur.issuerCertificate as typeof cur;
  }
  return chain;
}
