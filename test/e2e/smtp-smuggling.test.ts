// SMTP smuggling (SEC Consult, 2023; CVE-2023-51764/51765/51766): only <CRLF>.<CRLF> ends DATA. Every other
// end-of-data look-alike stays inside the one message (normalised to CRLF and dot-stuffed on the way out), so no
// second message can be smuggled through us — and what we send never has a bare CR or LF for a next hop to
// misread.
import { afterEach, describe, expect, it } from "vitest";
import type { SinkMessage } from "../support/smtp-sink.ts";
import { smtpTalk } from "../support/smtp-talk.ts";
import { startWorld, type World } from "../support/world.ts";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** The published end-of-data variants: bare LF and bare CR around the dot, mixed, and with a NUL. */
const VARIANTS: [string, string][] = [
  ["LF . LF", "\n.\n"],
  ["LF . CRLF", "\n.\r\n"],
  ["CRLF . LF", "\r\n.\n"],
  ["CR . CR", "\r.\r"],
  ["CRLF . CR", "\r\n.\r"],
  ["CR . CRLF", "\r.\r\n"],
  ["LF . CR", "\n.\r"],
  ["CR . LF", "\r.\n"],
  ["CRLF . CR CRLF", "\r\n.\r\r\n"],
  ["CRLF NUL . CRLF", "\r\n\x00.\r\n"],
  ["CRLF . NUL CRLF", "\r\n.\x00\r\n"],
];

/** Every CR is followed by LF and every LF is preceded by CR. */
function bareLineEndings(raw: Buffer): number[] {
  const at: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x0d && raw[i + 1] !== 0x0a) at.push(i);
    if (raw[i] === 0x0a && raw[i - 1] !== 0x0d) at.push(i);
  }
  return at;
}

function expectClean(m: SinkMessage) {
  expect(bareLineEndings(m.raw), `bare CR/LF in what we sent to ${m.to}`).toEqual([]);
}

describe("SMTP smuggling", () => {
  it("keeps every end-of-data look-alike inside the one message, and the smuggled commands with it", async () => {
    world = await startWorld();
    for (const [i, [name, variant]] of VARIANTS.entries()) {
      const talk = await smtpTalk(world.relay.smtpPort);
      await talk.send("EHLO client.test");
      expect(await talk.send("MAIL FROM:<app@sender.test>")).toMatch(/^250 /);
      expect(await talk.send(`RCPT TO:<v${i}@a.test>`)).toMatch(/^250 /);
      expect(await talk.send("DATA")).toMatch(/^354 /);
      // What a smuggler sends: a fake end of data, then a second transaction in the same DATA.
      talk.write(
        `From: app@sender.test\r\nSubject: variant ${i}\r\n\r\nbefore ${name}${variant}` +
          "MAIL FROM:<ceo@sender.test>\r\nRCPT TO:<smuggled@b.test>\r\nDATA\r\n" +
          "From: ceo@sender.test\r\nSubject: smuggled\r\n\r\nwire the money\r\n.\r\n",
      );
      // One reply for the one message; had the look-alike ended DATA, the next replies would be 250s for
      // MAIL/RCPT and 354 for DATA instead of QUIT's 221.
      const reply = await talk.read();
      expect(reply, name).toMatch(/^(250|5\d\d) /);
      expect(await talk.send("QUIT"), name).toMatch(/^221 /);
      talk.close();
    }

    const messages = await world.sink.waitForMessages(VARIANTS.length);
    await new Promise((r) => setTimeout(r, 500));
    expect(world.sink.messages).toHaveLength(VARIANTS.length);
    expect(world.sink.messages.flatMap((m) => m.to)).not.toContain("smuggled@b.test");
    for (const [i, [name]] of VARIANTS.entries()) {
      const m = messages.find((x) => x.to[0] === `v${i}@a.test`);
      expect(m, name).toBeDefined();
      expectClean(m!);
      const body = m!.raw.toString("latin1");
      // Kept inside, as a line of its own: the dot line is sent dot-stuffed and arrives as "." again.
      expect(body, name).toContain(`before ${name}`);
      expect(body, name).toContain("RCPT TO:<smuggled@b.test>");
      expect(body, name).toContain("wire the money");
    }
  });

  it("keeps bare-LF dot lines inside a raw HTTP message and a JSON text, and sends clean CRLF", async () => {
    world = await startWorld();
    const raw = await fetch(`${world.relay.apiUrl}/v1/messages/raw?from=app@sender.test&to=raw@a.test`, {
      method: "POST",
      headers: { "content-type": "message/rfc822" },
      body: "From: app@sender.test\nSubject: raw\n\nline\n.\nMAIL FROM:<x@sender.test>\r.\rend\n",
    });
    expect(raw.status).toBe(202);
    const json = await fetch(`${world.relay.apiUrl}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        from: "app@sender.test",
        to: "json@a.test",
        subject: "json",
        text: "line\n.\nMAIL FROM:<x@sender.test>\r.\rend\n",
      }),
    });
    expect(json.status).toBe(202);
    const messages = await world.sink.waitForMessages(2);
    expect(messages).toHaveLength(2);
    for (const m of messages) {
      expectClean(m);
      expect(m.raw.toString(), m.to[0]).toMatch(/\r\n\.\r\nMAIL FROM:<x@sender\.test>\r\n\.\r\nend\r\n/);
    }
  });
});
