// DKIM end to end: the body hash is made while the message streams into the store, the signature at send time;
// what the sink receives is checked by two independent verifiers (mailauth, dkimpy) against keys published in the
// test DNS server.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dnsRecordFor } from "../../shared/mail/dkim/keys.ts";
import { dkimpyVerify, mailauthDkim } from "../support/dkim-verifiers.ts";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
const ed = generateKeyPairSync("ed25519").privateKey;
const pem = (k: KeyObject) => k.export({ type: "pkcs8", format: "pem" }).toString();

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const KEYS = [
  { selector: "rsa-relaxed", key: rsa, canonicalization: "relaxed/relaxed" },
  { selector: "ed-relaxed", key: ed, canonicalization: "relaxed/relaxed" },
  { selector: "rsa-simple", key: rsa, canonicalization: "simple/simple" },
  { selector: "ed-simple", key: ed, canonicalization: "simple/simple" },
] as const;

async function dkimWorld(extra: Record<string, unknown> = {}) {
  const keyFile = join(tmpdir(), `zr-dkim-${process.pid}.pem`);
  writeFileSync(keyFile, pem(rsa));
  const w = await startWorld({
    relay: {
      dkim: {
        keys: [
          ...KEYS.map((k, i) => ({
            domain: "sender.test",
            selector: k.selector,
            // one key from a file, the others inline
            ...(i === 0 ? { privateKeyFile: keyFile } : { privateKey: pem(k.key) }),
            canonicalization: k.canonicalization,
          })),
          { domain: "zonerelay.test", selector: "transport", privateKey: pem(ed) },
        ],
        ...extra,
      },
    },
  });
  for (const k of KEYS) w.dns.set(`${k.selector}._domainkey.sender.test`, { TXT: [dnsRecordFor(k.key)] });
  w.dns.set("transport._domainkey.zonerelay.test", { TXT: [dnsRecordFor(ed)] });
  return w;
}

// Whitespace that relaxed and simple canonicalisation treat differently, folded headers, trailing blank lines.
const BODY = "Hello  there,\t\r\n\r\nline with trailing space \r\n  indented line\r\nÜnïcödé: 日本語\r\n\r\n\r\n";

describe("DKIM signatures made at send time from the hash made at intake", () => {
  it("passes mailauth and dkimpy for rsa-sha256 and ed25519-sha256, relaxed/relaxed and simple/simple", async () => {
    world = await dkimWorld();
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["ann@a.test"] },
      rfc822(
        {
          From: "App <app@sender.test>",
          To: "Ann <ann@a.test>",
          Subject: "Signed   twice\r\n  over folded lines",
          "Content-Type": "text/plain; charset=utf-8",
        },
        BODY,
      ),
    );
    const [msg] = await world.sink.waitForMessages(1);
    await world.relay.waitForStates(id, ["delivered"]);
    const raw = msg!.raw;
    expect(raw.toString("latin1").match(/^DKIM-Signature:/gm)).toHaveLength(4);

    const expected = KEYS.map((k) => `sender.test/${k.selector}=pass`);
    expect(await mailauthDkim(raw, world.dns.nameserver, "app@sender.test")).toEqual(expected);
    expect(await dkimpyVerify(raw, world.dns.nameserver)).toEqual(expected);
  });

  it("signs for the EHLO name too with signTransportDomain, and a From domain without keys gets only that signature", async () => {
    world = await dkimWorld({ signTransportDomain: true });
    await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["ann@a.test"] },
      rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Two domains" }),
    );
    await sendSmtp(
      world.relay.smtpPort,
      { from: "app@b.test", to: ["bob@a.test"] },
      rfc822({ From: "app@b.test", To: "bob@a.test", Subject: "No key for b.test" }),
    );
    const messages = await world.sink.waitForMessages(2);
    const signed = messages.find((m) => m.to[0] === "ann@a.test")!.raw;
    const results = await dkimpyVerify(signed, world.dns.nameserver);
    expect(results).toHaveLength(5);
    expect(results).toContain("zonerelay.test/transport=pass");
    expect(results.every((r) => r.endsWith("=pass"))).toBe(true);
    // b.test has no key, but the EHLO name's key still signs (d=zonerelay.test) — and only that one.
    const other = messages.find((m) => m.to[0] === "bob@a.test")!.raw;
    expect(await mailauthDkim(other, world.dns.nameserver, "app@b.test")).toEqual(["zonerelay.test/transport=pass"]);
  });
});
