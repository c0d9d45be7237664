// Delivery status notifications end to end: the DSN's MIME structure as a MIME parser (mailparser) reads it back,
// one delay warning after `bounces.delayWarning`, no DSN loops, and the bounce category in the status API.
import { simpleParser } from "mailparser";
import { afterEach, describe, expect, it } from "vitest";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** The fields of one RFC 3464 block ("Name: value" lines, folded lines joined). */
function fields(block: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of block.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) out[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}

async function parseDsn(raw: Buffer) {
  // keepDeliveryStatus: the report stays a part of its own instead of being merged into the text.
  const mail = await simpleParser(raw, { keepDeliveryStatus: true });
  const status = mail.attachments.find((a) => a.contentType === "message/delivery-status");
  const original = mail.attachments.find((a) => a.contentType === "text/rfc822-headers");
  const [perMessage, ...perRecipient] = status!.content
    .toString()
    .trim()
    .split(/\r?\n\r?\n/);
  return { mail, perMessage: fields(perMessage!), perRecipient: perRecipient.map(fields), original };
}

describe("DSNs", () => {
  it("are multipart/report with a delivery-status part and the original headers, readable by a MIME parser", async () => {
    world = await startWorld();
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["permfail@a.test"] },
      rfc822({ From: "app@sender.test", To: "permfail@a.test", Subject: "Nobody", "Message-ID": "<o-1@sender.test>" }),
    );
    const [dsn] = await world.sink.waitForMessages(1);
    const { mail, perMessage, perRecipient, original } = await parseDsn(dsn!.raw);
    const type = mail.headers.get("content-type") as { value: string; params: Record<string, string> };
    expect(type.value).toBe("multipart/report");
    expect(type.params["report-type"]).toBe("delivery-status");
    expect(mail.subject).toBe("Undelivered Mail Returned to Sender");
    expect(mail.headers.get("auto-submitted")).toBe("auto-replied");
    expect(mail.inReplyTo).toBe("<o-1@sender.test>");
    expect(mail.text).toMatch(/<permfail@a\.test>: failed \(5\.1\.1\)/);
    expect(perMessage["reporting-mta"]).toBe("dns; relay.zonerelay.test");
    expect(perRecipient).toHaveLength(1);
    expect(perRecipient[0]).toMatchObject({
      "final-recipient": "rfc822; permfail@a.test",
      action: "failed",
      status: "5.1.1",
      "remote-mta": "dns; mx.sink.test",
    });
    expect(perRecipient[0]!["diagnostic-code"]).toMatch(/^smtp; 550 5\.1\.1 User unknown/);
    expect(original!.content.toString()).toMatch(/^Received: /);
    expect(original!.content.toString()).toContain("Message-ID: <o-1@sender.test>");
    expect(original!.content.toString()).not.toContain("Hello from the test"); // headers only

    const status = (await world.relay.status(id)) as unknown as { deliveries: { category?: string }[] };
    expect(status.deliveries[0]!.category).toBe("recipient-unknown");
  });

  it("warn once, with action delayed, when a delivery is still deferred after bounces.delayWarning", async () => {
    world = await startWorld({ relay: { bounces: { delayWarning: "1s" } } });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["tempfail@a.test"] },
      rfc822({ From: "app@sender.test", To: "tempfail@a.test", Subject: "Slow" }),
    );
    // Attempts at ~0 s, ~1 s (crosses the warning time), ~2 s, ~3 s: one warning, sent after the second.
    const deadline = Date.now() + 15_000;
    let attempts = 0;
    while (Date.now() < deadline && attempts < 4) {
      attempts = (await world.relay.status(id)).deliveries[0]!.attempts;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(attempts).toBeGreaterThanOrEqual(4);
    const messages = await world.sink.waitForMessages(1);
    expect(messages).toHaveLength(1);
    const { mail, perRecipient } = await parseDsn(messages[0]!.raw);
    expect(mail.subject).toBe("Delivery Status Notification (Delay)");
    expect(perRecipient[0]).toMatchObject({ action: "delayed", status: "4.3.0" });
    expect(Date.parse(perRecipient[0]!["will-retry-until"]!)).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    const status = (await world.relay.status(id)) as unknown as { deliveries: { category?: string }[] };
    expect(status.deliveries[0]!.category).toBeDefined();
  });

  it("are never sent where they could loop, nor more than bounces.maxPerSender an hour", async () => {
    world = await startWorld({ relay: { bounces: { maxPerSender: 2 } } });
    const send = (from: string, headers: Record<string, string> = {}) =>
      sendSmtp(
        world!.relay.smtpPort,
        { from, to: ["permfail@a.test"] },
        rfc822({ From: from, To: "permfail@a.test", Subject: "x", ...headers }),
      );
    // A report about a report, an automatic reply, a mailer daemon: no DSN.
    const quiet = [
      await send("app@sender.test", { "Content-Type": 'multipart/report; report-type=delivery-status; boundary="b"' }),
      await send("app@sender.test", { "Auto-Submitted": "auto-replied" }),
      await send("MAILER-DAEMON@sender.test"),
    ];
    for (const id of quiet) await world.relay.waitForStates(id, ["bounced"]);
    // Four bounces from one sender: two DSNs.
    const loud = [];
    for (let i = 0; i < 4; i++) loud.push(await send("busy@sender.test"));
    for (const id of loud) await world.relay.waitForStates(id, ["bounced"]);
    await world.sink.waitForMessages(2);
    await new Promise((r) => setTimeout(r, 1500));
    expect(world.sink.messages.map((m) => m.to[0])).toEqual(["busy@sender.test", "busy@sender.test"]);
  });
});
