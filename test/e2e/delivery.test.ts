// End to end through the embedded relay: intake (HTTP and SMTP) → spool + SQLite queue → MX lookup on a real DNS
// server → delivery to a real SMTP sink, with the outcomes the sink and the status API can see.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { spoolContents } from "../support/spool.ts";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

function headerOf(raw: Buffer, name: string): string[] {
  const head = raw.toString("utf8").split("\r\n\r\n")[0] ?? "";
  const unfolded = head.replace(/\r\n[ \t]+/g, " ");
  const prefix = `${name.toLowerCase()}:`;
  return unfolded
    .split("\r\n")
    .filter((l) => l.toLowerCase().startsWith(prefix))
    .map((l) => l.slice(prefix.length).trim());
}

describe("delivery from the embedded relay", () => {
  it("delivers an HTTP JSON message with the expected headers, from a pool address with its EHLO name", async () => {
    world = await startWorld();
    const res = await fetch(`${world.relay.apiUrl}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        from: { name: "Shop", address: "shop@sender.test" },
        to: "Ann <ann@a.test>",
        subject: "Your order ✓",
        text: "Thanks for your order.",
        headers: { "X-Campaign": "november" },
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };

    const [msg] = await world.sink.waitForMessages(1);
    expect(msg!.from).toBe("shop@sender.test");
    expect(msg!.to).toEqual(["ann@a.test"]);
    expect(["127.0.0.2", "127.0.0.3"]).toContain(msg!.remoteAddress);
    const ehlo = msg!.remoteAddress === "127.0.0.2" ? "out1.zonerelay.test" : "out2.zonerelay.test";
    expect(msg!.clientHostname).toBe(ehlo);

    expect(headerOf(msg!.raw, "From")[0]).toMatch(/Shop.*<shop@sender\.test>/);
    expect(headerOf(msg!.raw, "To")[0]).toMatch(/<ann@a\.test>/);
    expect(headerOf(msg!.raw, "Subject")[0]).toMatch(/=\?UTF-8\?/i);
    expect(headerOf(msg!.raw, "Message-ID")[0]).toMatch(/^<[^@\s]+@[^>\s]+>$/);
    expect(headerOf(msg!.raw, "Date")).toHaveLength(1);
    expect(headerOf(msg!.raw, "X-Campaign")).toEqual(["november"]);
    const received = headerOf(msg!.raw, "Received");
    expect(received).toHaveLength(1);
    expect(received[0]).toMatch(/by relay\.zonerelay\.test/);
    expect(received[0]).toContain(id);
    expect(msg!.raw.toString("utf8")).toContain("Thanks for your order.");

    const status = await world.relay.waitForStates(id, ["delivered"]);
    const [delivery] = status.deliveries;
    expect(delivery!.history).toHaveLength(1);
    expect(delivery!.history[0]!.localAddress).toBe(msg!.remoteAddress);
    expect(delivery!.history[0]!.response).toMatch(/^250/);

    // Its body leaves the spool within seconds of the last delivery (not at the next minute's sweep).
    const spool = join(world.relay.dir, "spool");
    expect(readdirSync(join(spool, "log")).some((name) => name.endsWith(".seg"))).toBe(true); // where it was
    const deadline = Date.now() + 5_000;
    while (spoolContents(spool).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(spoolContents(spool)).toEqual([]);
  });

  it("sends 3 recipients at 2 domains over 2 connections, one transaction per domain and one delivery each", async () => {
    world = await startWorld();
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "news@sender.test", to: ["one@a.test", "two@a.test", "three@b.test"] },
      rfc822({ From: "news@sender.test", To: "undisclosed-recipients:;", Subject: "Three" }),
    );
    const messages = await world.sink.waitForMessages(2);
    await world.relay.waitForStates(id, ["delivered", "delivered", "delivered"]);
    expect(messages.flatMap((m) => m.to).sort()).toEqual(["one@a.test", "three@b.test", "two@a.test"]);
    expect(world.sink.connections).toBe(2);
    // Both a.test recipients in one transaction (a RCPT TO each), so the body went once.
    expect(messages.find((m) => m.to.includes("one@a.test"))!.to.sort()).toEqual(["one@a.test", "two@a.test"]);
  });

  it("keeps each recipient's own refusal in a shared transaction: one bounced, one deferred, one delivered", async () => {
    world = await startWorld({
      sink: {
        rcptReply: (rcpt) =>
          rcpt.startsWith("gone@")
            ? { code: 550, message: "5.1.1 No such user" }
            : rcpt.startsWith("busy@")
              ? { code: 450, message: "4.2.1 Mailbox busy" }
              : undefined,
      },
    });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "news@sender.test", to: ["gone@a.test", "busy@a.test", "here@a.test"] },
      rfc822({ From: "news@sender.test", To: "undisclosed-recipients:;", Subject: "Mixed" }),
    );
    const [msg] = await world.sink.waitForMessages(1);
    expect(msg!.to).toEqual(["here@a.test"]);
    const status = await world.relay.waitForStates(id, ["bounced", "deferred", "delivered"]);
    const byRcpt = Object.fromEntries(status.deliveries.map((d) => [d.recipient, d.history[0]!.response]));
    expect(byRcpt["gone@a.test"]).toMatch(/^550 5\.1\.1/);
    expect(byRcpt["busy@a.test"]).toMatch(/^450 4\.2\.1/);
    expect(byRcpt["here@a.test"]).toMatch(/^250/);
  });

  it("defers a 451 and delivers on the retry", async () => {
    world = await startWorld();
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["tempfail-once@a.test"] },
      rfc822({ From: "app@sender.test", To: "tempfail-once@a.test", Subject: "Retry me" }),
    );
    const status = await world.relay.waitForStates(id, ["delivered"]);
    const history = status.deliveries[0]!.history;
    expect(history.map((a) => a.outcome)).toEqual(["deferred", "delivered"]);
    expect(history[0]!.response).toMatch(/^451/);
    // The status API reports times as ISO 8601 strings; the retry schedule in the test config is 1 s.
    const at = (a: { at: unknown }) => Date.parse(String(a.at));
    expect(at(history[1]!) - at(history[0]!)).toBeGreaterThanOrEqual(900);
    expect(world.sink.messages).toHaveLength(1);
  });

  it("bounces a 550 and sends a DSN to the envelope sender, none for the null sender", async () => {
    world = await startWorld();
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["permfail@a.test"] },
      rfc822({
        From: "app@sender.test",
        To: "permfail@a.test",
        Subject: "Nobody home",
        "Message-ID": "<orig-1@sender.test>",
      }),
    );
    const status = await world.relay.waitForStates(id, ["bounced"]);
    expect(status.deliveries[0]!.history[0]!.response).toMatch(/^550 5\.1\.1/);
    expect(status.deliveries[0]!.history[0]!.category).toBe("recipient-unknown");

    const [dsn] = await world.sink.waitForMessages(1);
    expect(dsn!.from).toBe("");
    expect(dsn!.to).toEqual(["app@sender.test"]);
    const text = dsn!.raw.toString("utf8");
    expect(text).toMatch(/Content-Type: multipart\/report;[\s\S]*report-type=("?)delivery-status\1/i);
    expect(text).toMatch(/Final-Recipient: rfc822;\s*permfail@a\.test/i);
    expect(text).toMatch(/Status: 5\.1\.1/);
    expect(text).toMatch(/Action: failed/);
    expect(text).toContain("<orig-1@sender.test>");

    // A message from <> that bounces produces no DSN (no bounce loops).
    const nullId = await sendSmtp(
      world.relay.smtpPort,
      { from: "", to: ["permfail@a.test"] },
      rfc822({ From: "MAILER-DAEMON@sender.test", To: "permfail@a.test", Subject: "A bounce" }),
    );
    await world.relay.waitForStates(nullId, ["bounced"]);
    await new Promise((r) => setTimeout(r, 1000));
    expect(world.sink.messages).toHaveLength(1);
  });

  it("delivers over TLS when the MX offers STARTTLS", async () => {
    world = await startWorld({ sink: { tls: true } });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["tls@a.test"] },
      rfc822({ From: "app@sender.test", To: "tls@a.test", Subject: "Private" }),
    );
    const [msg] = await world.sink.waitForMessages(1);
    expect(msg!.secure).toBe(true);
    const status = await world.relay.waitForStates(id, ["delivered"]);
    expect(status.deliveries[0]!.history[0]!.tls).toBe(true);
  });

  it("falls back to plain text when the STARTTLS handshake fails", async () => {
    world = await startWorld({ sink: { brokenTls: true } });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["plain@a.test"] },
      rfc822({ From: "app@sender.test", To: "plain@a.test", Subject: "Plain after all" }),
    );
    const [msg] = await world.sink.waitForMessages(1);
    expect(msg!.secure).toBe(false);
    const status = await world.relay.waitForStates(id, ["delivered"]);
    expect(status.deliveries[0]!.history.at(-1)!.tls).toBe(false);
  });

  it("bounces an internationalised address when the MX lacks SMTPUTF8, and delivers it where it is offered", async () => {
    world = await startWorld({ sink: { smtputf8: false } });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["josé@a.test"] },
      rfc822({ From: "app@sender.test", To: "josé@a.test", Subject: "Olá" }),
    );
    const status = await world.relay.waitForStates(id, ["bounced"]);
    expect(status.deliveries[0]!.history[0]!.response).toMatch(/SMTPUTF8/);
    expect(status.deliveries[0]!.history[0]!.category).toBe("smtputf8");
    await world.close();

    world = await startWorld();
    const ok = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["josé@a.test"] },
      rfc822({ From: "app@sender.test", To: "josé@a.test", Subject: "Olá" }),
    );
    const [msg] = await world.sink.waitForMessages(1);
    expect(msg!.to).toEqual(["josé@a.test"]);
    expect(msg!.utf8).toBe(true);
    await world.relay.waitForStates(ok, ["delivered"]);
  });
});

describe("MX resolution (RFC 5321 §5.1, RFC 7505)", () => {
  it("uses the A record when a domain has no MX, bounces a null MX and an unknown domain at once", async () => {
    world = await startWorld();
    world.dns.set("implicit.test", { A: ["127.0.0.1"] });
    world.dns.set("nullmx.test", { MX: [{ exchange: ".", priority: 0 }] });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "", to: ["a@implicit.test", "b@nullmx.test", "c@nxdomain.test"] },
      rfc822({ From: "app@sender.test", To: "undisclosed-recipients:;", Subject: "Where to?" }),
    );
    const status = await world.relay.waitForStates(id, ["delivered", "bounced", "bounced"]);
    const by = Object.fromEntries(status.deliveries.map((d) => [d.recipient, d]));
    expect(by["b@nullmx.test"]!.history).toHaveLength(1);
    expect(by["b@nullmx.test"]!.history[0]!.category).toBe("null-mx");
    expect(by["c@nxdomain.test"]!.history).toHaveLength(1);
    expect(by["c@nxdomain.test"]!.history[0]!.category).toBe("domain-not-found");
    const [msg] = await world.sink.waitForMessages(1);
    expect(msg!.to).toEqual(["a@implicit.test"]);
  });

  it("defers while the DNS server fails (SERVFAIL) and delivers once it answers", async () => {
    world = await startWorld();
    world.dns.set("flaky.test", { servfail: true });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["x@flaky.test"] },
      rfc822({ From: "app@sender.test", To: "x@flaky.test", Subject: "DNS trouble" }),
    );
    await world.relay.waitForStates(id, ["deferred"]);
    world.dns.set("flaky.test", { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
    const status = await world.relay.waitForStates(id, ["delivered"]);
    expect(status.deliveries[0]!.history[0]!.outcome).toBe("deferred");
    expect(status.deliveries[0]!.history[0]!.category).toBe("dns");
  });
});
