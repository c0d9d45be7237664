import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import { describe, expect, it } from "vitest";
import { DkimBodyHasher } from "./body-hash.ts";
import { authorDomain, dnsRecordFor, keysForDomain, keysForMessage, loadDkimKeys } from "./keys.ts";
import { type Canonicalization, canonicalizeHeader, type DkimKey, dkimSignatures } from "./sign.ts";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
const ed = generateKeyPairSync("ed25519").privateKey;

const key = (privateKey: KeyObject, selector: string, canonicalization: Canonicalization): DkimKey => ({
  domain: "example.com",
  selector,
  privateKey,
  algorithm: privateKey.asymmetricKeyType === "ed25519" ? "ed25519-sha256" : "rsa-sha256",
  canonicalization,
});

const MESSAGE =
  "Received: from client by relay; Tue, 14 Jan 2025 10:00:00 +0000\r\n" +
  "From: Ann Example <ann@example.com>\r\n" +
  "To:  bob@example.org ,\r\n\tcarol@example.org\r\n" +
  "Subject:   Hello    world  \r\n" +
  "Date: Tue, 14 Jan 2025 10:00:00 +0000\r\n" +
  "Message-ID: <m1@example.com>\r\n" +
  "X-Unsigned: yes\r\n" +
  "\r\n" +
  "Body line with trailing spaces   \r\n" +
  "\ttabbed  and   spaced\r\n" +
  "\r\n" +
  "Ünïcödé line\r\n" +
  "\r\n\r\n\r\n";

/** Streams the message through the intake hasher in small, awkward chunks and returns the hashes. */
async function hashes(message: Buffer, chunk = 7) {
  const hasher = new DkimBodyHasher(["relaxed", "simple"]);
  const parts: Buffer[] = [];
  for (let i = 0; i < message.length; i += chunk) parts.push(message.subarray(i, i + chunk));
  await pipeline(Readable.from(parts), hasher, async (s: AsyncIterable<Buffer>) => {
    for await (const _ of s);
  });
  return hasher.hashes!;
}

function sign(message: Buffer, h: Awaited<ReturnType<typeof hashes>>, keys: DkimKey[]) {
  const headerBlock = message.subarray(0, message.indexOf("\r\n\r\n") + 2).toString("latin1");
  return dkimSignatures(headerBlock, h, keys, {
    headerFields: ["From", "To", "Subject", "Date", "Message-ID"],
    overSign: ["From"],
    now: new Date(),
  });
}

async function verify(signed: Buffer, keys: DkimKey[]) {
  const records = new Map(keys.map((k) => [`${k.selector}._domainkey.${k.domain}`, dnsRecordFor(k.privateKey)]));
  const resolver = async (name: string, type: string) => {
    const txt = type === "TXT" ? records.get(name) : undefined;
    if (!txt) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
    return [[txt]];
  };
  const result = await dkimVerify(signed, { resolver });
  return result.results;
}

describe("DKIM signing from a body hash made while streaming", () => {
  for (const canon of ["relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"] as const) {
    it(`verifies ${canon} for rsa-sha256 and ed25519-sha256 with mailauth`, async () => {
      const message = Buffer.from(MESSAGE, "utf8");
      const keys = [key(rsa, "rsa1", canon), key(ed, "ed1", canon)];
      const signatures = await sign(message, await hashes(message), keys);
      expect(signatures.match(/^DKIM-Signature:/gm)).toHaveLength(2);
      const results = await verify(Buffer.concat([Buffer.from(signatures, "latin1"), message]), keys);
      expect(results.map((r) => [r.signingDomain, r.selector, r.status.result])).toEqual([
        ["example.com", "rsa1", "pass"],
        ["example.com", "ed1", "pass"],
      ]);
    });
  }

  it("gives the same hashes whatever the chunking", async () => {
    const message = Buffer.from(MESSAGE, "utf8");
    const whole = await hashes(message, message.length);
    for (const size of [1, 2, 3, 5, 64]) expect(await hashes(message, size)).toEqual(whole);
  });

  it("hashes an empty body as RFC 6376 §3.4.3/§3.4.4 say", async () => {
    const h = await hashes(Buffer.from("From: a@example.com\r\n\r\n"));
    // sha256("\r\n") for simple, sha256("") for relaxed
    expect(h.simple).toBe("frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
    expect(h.relaxed).toBe("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  });

  it("over-signs From: a second From added later breaks the signature", async () => {
    const message = Buffer.from(MESSAGE, "utf8");
    const keys = [key(rsa, "rsa1", "relaxed/relaxed")];
    const signatures = await sign(message, await hashes(message), keys);
    expect(signatures).toMatch(/h=From:From:To:Subject/);
    const tampered = Buffer.concat([
      Buffer.from(signatures, "latin1"),
      Buffer.from("From: mallory@example.net\r\n"),
      message,
    ]);
    const [result] = await verify(tampered, keys);
    expect(result!.status.result).not.toBe("pass");
  });

  it("detects a changed body", async () => {
    const message = Buffer.from(MESSAGE, "utf8");
    const keys = [key(ed, "ed1", "relaxed/relaxed")];
    const signatures = await sign(message, await hashes(message), keys);
    const changed = Buffer.from(MESSAGE.replace("tabbed", "TABBED"), "utf8");
    const [result] = await verify(Buffer.concat([Buffer.from(signatures, "latin1"), changed]), keys);
    expect(result!.status.result).toBe("neutral");
  });

  it("signs nothing for a message without From", async () => {
    const out = await dkimSignatures("To: b@example.org\r\n", { relaxed: "x" }, [key(rsa, "s", "relaxed/relaxed")], {
      headerFields: ["From", "To"],
      overSign: [],
      now: new Date(),
    });
    expect(out).toBe("");
  });

  it("canonicalises headers as RFC 6376 §3.4.2's example", () => {
    expect(canonicalizeHeader("SUBJect:  AbC \r\n\t def  ", "relaxed")).toBe("subject:AbC def\r\n");
    expect(canonicalizeHeader("SUBJect:  AbC", "simple")).toBe("SUBJect:  AbC\r\n");
  });
});

describe("DKIM keys", () => {
  const pem = (k: KeyObject) => k.export({ type: "pkcs8", format: "pem" }).toString();

  it("loads keys, takes the algorithm from the key, and refuses short RSA keys", () => {
    const keys = loadDkimKeys({
      keys: [
        { domain: "Example.COM", selector: "a", privateKey: pem(rsa) },
        { domain: "example.com", selector: "b", privateKey: pem(ed), canonicalization: "simple/simple" },
      ],
      canonicalization: "relaxed/relaxed",
      headers: [],
      overSign: [],
      signTransportDomain: false,
    });
    expect(keys.map((k) => [k.domain, k.algorithm, k.canonicalization])).toEqual([
      ["example.com", "rsa-sha256", "relaxed/relaxed"],
      ["example.com", "ed25519-sha256", "simple/simple"],
    ]);
    const short = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
    expect(() =>
      loadDkimKeys({
        keys: [{ domain: "example.com", selector: "old", privateKey: pem(short) }],
        canonicalization: "relaxed/relaxed",
        headers: [],
        overSign: [],
        signTransportDomain: false,
      }),
    ).toThrow(/1024 bits; at least 2048/);
  });

  it("picks the author domain's keys, a parent domain's, and the EHLO name's with signTransportDomain", () => {
    const keys = [key(rsa, "a", "relaxed/relaxed"), { ...key(ed, "t", "relaxed/relaxed"), domain: "mta.example.net" }];
    expect(authorDomain('"Ann, Sales" <ann@News.Example.com>')).toBe("News.Example.com");
    expect(keysForDomain(keys, "news.example.com").map((k) => k.selector)).toEqual(["a"]);
    expect(keysForDomain(keys, "example.org")).toEqual([]);
    expect(keysForMessage(keys, "ann@example.com", "out1.mta.example.net").map((k) => k.selector)).toEqual(["a", "t"]);
  });
});
