// Internationalised email end to end (RFC 6530-6533): a UTF-8 mailbox at an IDN domain is delivered with
// SMTPUTF8 where the MX offers it; without it, an IDN domain still goes (as A-labels) while a UTF-8 mailbox name
// bounces with a clear 553 5.6.7 and a DSN in the utf-8 address type. DNS and EHLO use A-labels.
import { domainToASCII } from "node:url";
import { simpleParser } from "mailparser";
import { afterEach, describe, expect, it } from "vitest";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

const IDN = "уайлддак.орг";
const ACE = domainToASCII(IDN); // xn--80aalwqglfe.xn--c1avg
const MAILBOX = `андрис@${IDN}`;

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("SMTPUTF8", () => {
  it(`delivers to ${MAILBOX} with SMTPUTF8, looking the domain up as ${ACE}`, async () => {
    world = await startWorld();
    world.dns.set(ACE, { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: [MAILBOX] },
      rfc822({ From: "app@sender.test", To: `Андрис <${MAILBOX}>`, Subject: "Привет" }, "Здравствуй, Андрис!\r\n"),
    );
    const [msg] = await world.sink.waitForMessages(1);
    await world.relay.waitForStates(id, ["delivered"]);
    expect(msg!.to).toEqual([MAILBOX]);
    expect(msg!.utf8).toBe(true);
    expect(msg!.raw.toString("utf8")).toContain(`To: Андрис <${MAILBOX}>`); // RFC 6532 header, unchanged
    expect(msg!.raw.toString("utf8")).toContain("Здравствуй, Андрис!");
    expect(world.dns.queries.some((q) => q.name === ACE && q.type === "MX")).toBe(true);
    expect(world.dns.queries.some((q) => q.name.includes("уайлддак"))).toBe(false);
  });

  it("sends an IDN domain as A-labels to an MX without SMTPUTF8, and bounces a UTF-8 mailbox name clearly", async () => {
    world = await startWorld({
      sink: { smtputf8: false },
      relay: { pools: { default: [{ address: "127.0.0.2", name: "почта.zonerelay.test" }] } },
    });
    world.dns.set(ACE, { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
    // Through the raw HTTP API: the envelope exactly as given, Unicode domains included.
    const res = await fetch(
      `${world.relay.apiUrl}/v1/messages/raw?from=${encodeURIComponent(`app@${IDN}`)}&to=${encodeURIComponent(`info@${IDN}`)}`,
      { method: "POST", body: rfc822({ From: `app@${ACE}`, To: `info@${ACE}`, Subject: "ASCII mailbox" }) },
    );
    expect(res.status).toBe(202);
    const ok = ((await res.json()) as { id: string }).id;
    const [msg] = await world.sink.waitForMessages(1);
    await world.relay.waitForStates(ok, ["delivered"]);
    // On the wire in A-labels (the sink's parser shows the domain decoded again).
    expect(world.sink.commands).toEqual([`MAIL FROM:<app@${ACE}> BODY=8BITMIME`, `RCPT TO:<info@${ACE}>`]);
    expect(msg!.to).toEqual([`info@${IDN}`]);
    expect(msg!.utf8).toBe(false);
    expect(msg!.clientHostname).toBe(`${domainToASCII("почта")}.zonerelay.test`); // EHLO in A-labels

    const bad = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: [MAILBOX] },
      rfc822({ From: "app@sender.test", To: MAILBOX, Subject: "UTF-8 mailbox" }),
    );
    const status = await world.relay.waitForStates(bad, ["bounced"]);
    const attempt = status.deliveries[0]!.history[0]!;
    expect(attempt.response).toMatch(/^553 5\.6\.7 <андрис@уайлддак\.орг>: the mailbox name is not ASCII/);
    expect(attempt.category).toBe("smtputf8");

    const [, dsn] = await world.sink.waitForMessages(2);
    expect(dsn!.to).toEqual(["app@sender.test"]);
    const parsed = await simpleParser(dsn!.raw, { keepDeliveryStatus: true });
    const report = parsed.attachments.find((a) => a.contentType === "message/delivery-status")!.content.toString();
    // RFC 6533 §3: the utf-8 address type in its 7-bit form.
    expect(report.replace(/\r?\n[ \t]+/g, " ")).toContain(
      "Final-Recipient: utf-8; \\x{430}\\x{43D}\\x{434}\\x{440}\\x{438}\\x{441}@",
    );
    expect(report).toMatch(/Status: 5\.6\.7/);
  });
});
