// DANE decisions on recorded material: certificates made by openssl once, TLSA records computed from them the way
// `ldns-dane create` or `openssl x509 -pubkey | sha256` would (RFC 6698 §2.1), checked by verifyDane.
import { createHash, X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { testCerts } from "../../test/support/certs.ts";
import { testCa } from "../../test/support/test-ca.ts";
import { type Tlsa, tlsaMatches, usableTlsa, verifyDane } from "./dane.ts";

const ca = testCa();
const issued = ca.issue(["mx.dane.test"]);
const pems = issued.cert.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
const leaf = new X509Certificate(pems[0]!);
const root = new X509Certificate(pems[1]!);
const chain = [leaf, root];
const selfSigned = new X509Certificate(testCerts().cert);

const spki = (c: X509Certificate) => c.publicKey.export({ type: "spki", format: "der" });
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest();
const sha512 = (b: Buffer) => createHash("sha512").update(b).digest();
const tlsa = (usage: number, selector: number, matchingType: number, data: Buffer): Tlsa => ({
  usage,
  selector,
  matchingType,
  data,
});

describe("DANE-EE (usage 3, RFC 7672 §3.1.1)", () => {
  it("matches the leaf by SPKI digest, certificate digest or full certificate, whatever its names or issuer", () => {
    expect(verifyDane([tlsa(3, 1, 1, sha256(spki(leaf)))], chain, ["other.name.test"])).toEqual({ ok: true, usage: 3 });
    expect(verifyDane([tlsa(3, 0, 2, sha512(leaf.raw))], chain, [])).toEqual({ ok: true, usage: 3 });
    expect(verifyDane([tlsa(3, 0, 0, selfSigned.raw)], [selfSigned], [])).toEqual({ ok: true, usage: 3 });
  });

  it("fails when no record matches the leaf (another key, or the CA's key under usage 3)", () => {
    expect(verifyDane([tlsa(3, 1, 1, sha256(spki(selfSigned)))], chain, ["mx.dane.test"]).ok).toBe(false);
    expect(verifyDane([tlsa(3, 1, 1, sha256(spki(root)))], chain, ["mx.dane.test"]).ok).toBe(false);
  });
});

describe("DANE-TA (usage 2, RFC 7672 §3.1.2)", () => {
  it("accepts a leaf signed by the published trust anchor and naming the MX host", () => {
    expect(verifyDane([tlsa(2, 0, 1, sha256(root.raw))], chain, ["mx.dane.test"])).toEqual({ ok: true, usage: 2 });
    // A TA published as a full public key need not be in the chain (RFC 7671 §5.2.2).
    expect(verifyDane([tlsa(2, 1, 0, spki(root))], [leaf], ["mx.dane.test"])).toEqual({ ok: true, usage: 2 });
  });

  it("refuses a leaf whose names do not include the MX host, or a chain that does not lead to the anchor", () => {
    const wrongName = verifyDane([tlsa(2, 0, 1, sha256(root.raw))], chain, ["mx.elsewhere.test"]);
    expect(wrongName).toMatchObject({ ok: false, reason: expect.stringMatching(/names none/) });
    expect(verifyDane([tlsa(2, 0, 1, sha256(root.raw))], [selfSigned, root], ["localhost"]).ok).toBe(false);
    // The leaf is never its own trust anchor.
    expect(verifyDane([tlsa(2, 0, 1, sha256(leaf.raw))], chain, ["mx.dane.test"]).ok).toBe(false);
  });

  it("refuses a certificate outside its validity period", () => {
    const later = new Date(Date.now() + 30 * 86_400_000);
    expect(verifyDane([tlsa(2, 0, 1, sha256(root.raw))], chain, ["mx.dane.test"], later)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/validity/),
    });
  });
});

describe("usable records (RFC 7672 §3.1.3)", () => {
  it("drops PKIX-TA/PKIX-EE usages and unknown selectors or matching types", () => {
    const records = [
      tlsa(0, 0, 1, Buffer.alloc(32)),
      tlsa(1, 1, 1, Buffer.alloc(32)),
      tlsa(3, 2, 1, Buffer.alloc(32)),
      tlsa(3, 1, 3, Buffer.alloc(32)),
      tlsa(3, 1, 1, sha256(spki(leaf))),
    ];
    expect(usableTlsa(records)).toHaveLength(1);
    // Unusable records never match, even when their data would.
    expect(verifyDane([tlsa(1, 1, 1, sha256(spki(leaf)))], chain, ["mx.dane.test"]).ok).toBe(false);
    expect(tlsaMatches(tlsa(3, 1, 1, sha256(spki(leaf))), leaf)).toBe(true);
  });
});
