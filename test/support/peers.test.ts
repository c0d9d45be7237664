// Self-test of the real test peers: the SMTP sink, the DNS server and the Postfix instance behave as promised.
import { randomUUID, X509Certificate } from "node:crypto";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { connect } from "node:net";
import dnsPacket from "dns-packet";
import SMTPConnection, { type SMTPConnectionOptions, type SMTPEnvelope } from "nodemailer/lib/smtp-connection";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { testCerts } from "./certs.ts";
import { type DnsServer, startDnsServer } from "./dns-server.ts";
import { assertPostfixUp, POSTFIX, waitForPostfixMail } from "./postfix.ts";
import { type Sink, startSink } from "./smtp-sink.ts";

interface SendResult {
  ok: boolean;
  accepted: string[];
  rejected: string[];
  response: string;
  code?: number;
  errorCode?: string;
}

/** Sends one message over a fresh nodemailer connection; never throws for SMTP-level failures. */
async function send(
  options: SMTPConnectionOptions,
  envelope: SMTPEnvelope,
  body: string | Buffer = "Subject: hi\r\n\r\nhello\r\n",
): Promise<SendResult> {
  const connection = new SMTPConnection({ host: "127.0.0.1", name: "client.zonerelay.test", ...options });
  let failure: (Error & { responseCode?: number; response?: string; code?: string }) | undefined;
  connection.on("error", (err) => {
    failure ??= err;
  });
  try {
    await new Promise<void>((resolve, reject) => {
      connection.once("error", reject);
      connection.connect(() => resolve());
    });
    const info = await new Promise<{ accepted: string[]; rejected: string[]; response: string }>((resolve, reject) =>
      connection.send(envelope, body, (err, info) => (err ? reject(err) : resolve(info))),
    );
    return { ok: true, accepted: info.accepted, rejected: info.rejected, response: info.response };
  } catch (err) {
    const e = (failure ?? err) as Error & { responseCode?: number; response?: string; code?: string };
    return {
      ok: false,
      accepted: [],
      rejected: [],
      response: e.response ?? e.message,
      ...(e.responseCode ? { code: e.responseCode } : {}),
      ...(e.code ? { errorCode: e.code } : {}),
    };
  } finally {
    connection.quit();
  }
}

describe("certs", () => {
  it("makes one self-signed certificate for localhost, *.zonerelay.test and 127.0.0.1", () => {
    const certs = testCerts();
    expect(testCerts()).toBe(certs);
    const x509 = new X509Certificate(certs.cert);
    expect(x509.subjectAltName).toContain("DNS:*.zonerelay.test");
    expect(x509.checkHost("mx.zonerelay.test")).toBe("*.zonerelay.test");
    expect(x509.checkHost("localhost")).toBe("localhost");
    expect(x509.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(certs.key).toContain("PRIVATE KEY");
  });
});

describe("smtp sink", () => {
  let sink: Sink;
  afterEach(async () => {
    await sink?.close();
  });

  it("records envelope, body, EHLO name, client address and connection count", async () => {
    sink = await startSink({ greeting: "sink ready" });
    const r = await send(
      { port: sink.port, ignoreTLS: true },
      { from: "a@zonerelay.test", to: ["b@example.test", "c@example.test"] },
    );
    expect(r.ok).toBe(true);
    const [m] = await sink.waitForMessages(1);
    expect(m).toMatchObject({
      from: "a@zonerelay.test",
      to: ["b@example.test", "c@example.test"],
      remoteAddress: "127.0.0.1",
      localPort: sink.port,
      secure: false,
      clientHostname: "client.zonerelay.test",
      utf8: false,
    });
    expect(m!.raw.toString()).toContain("hello");
    expect(m!.size).toBe(m!.raw.length);
    expect(sink.connections).toBe(1);
    sink.reset();
    expect(sink.messages).toEqual([]);
    expect(sink.connections).toBe(0);
  });

  it("sees a client bound to the loopback alias 127.0.0.2", async () => {
    sink = await startSink();
    expect((await send({ port: sink.port, localAddress: "127.0.0.2" }, { from: "a@x.test", to: "b@x.test" })).ok).toBe(
      true,
    );
    expect((await sink.waitForMessages(1))[0]!.remoteAddress).toBe("127.0.0.2");
  });

  it("offers STARTTLS with the test certificate, verifiable by its CA", async () => {
    sink = await startSink({ tls: true });
    const r = await send(
      { port: sink.port, requireTLS: true, tls: { ca: testCerts().cert, servername: "mx.zonerelay.test" } },
      { from: "a@x.test", to: "b@x.test" },
    );
    expect(r).toMatchObject({ ok: true });
    expect((await sink.waitForMessages(1))[0]!.secure).toBe(true);
  });

  it("without tls does not advertise STARTTLS", async () => {
    sink = await startSink();
    const r = await send({ port: sink.port, requireTLS: true }, { from: "a@x.test", to: "b@x.test" });
    expect(r.ok).toBe(false);
    expect(sink.messages).toHaveLength(0);
  });

  it("with brokenTls advertises STARTTLS, fails the handshake, and takes the plain-text retry", async () => {
    sink = await startSink({ brokenTls: true });
    const tlsTry = await send(
      { port: sink.port, opportunisticTLS: true, tls: { rejectUnauthorized: false } },
      { from: "a@x.test", to: "b@x.test" },
    );
    expect(tlsTry.ok).toBe(false);
    // nodemailer reports it as ESOCKET with the OpenSSL reason, not as ETLS
    expect(tlsTry.response).toMatch(/alert handshake failure/);
    const plain = await send({ port: sink.port, ignoreTLS: true }, { from: "a@x.test", to: "b@x.test" });
    expect(plain.ok).toBe(true);
    expect((await sink.waitForMessages(1))[0]!.secure).toBe(false);
    expect(sink.connections).toBe(2);
  });

  it("answers the built-in scripted recipients", async () => {
    sink = await startSink();
    const rcpt = async (to: string) => send({ port: sink.port }, { from: "a@x.test", to });
    expect(await rcpt("tempfail@x.test")).toMatchObject({ ok: false, code: 451 });
    expect(await rcpt("permfail-7@x.test")).toMatchObject({ ok: false, code: 550 });
    expect((await rcpt("permfail@x.test")).response).toContain("5.1.1");
    expect(await rcpt("full@x.test")).toMatchObject({ ok: false, code: 552 });
    expect(await rcpt("tempfail-once@x.test")).toMatchObject({ ok: false, code: 451 });
    expect(await rcpt("tempfail-once@x.test")).toMatchObject({ ok: true });
    expect(await rcpt("tempfail-once-other@x.test")).toMatchObject({ ok: false, code: 451 });
    const data = await rcpt("datafail@x.test");
    expect(data).toMatchObject({ ok: false, code: 554 });
    expect(data.response).toContain("5.7.1");
    const mixed = await send({ port: sink.port }, { from: "a@x.test", to: ["ok@x.test", "permfail@x.test"] });
    expect(mixed).toMatchObject({ ok: true, accepted: ["ok@x.test"], rejected: ["permfail@x.test"] });
    expect(sink.messages.map((m) => m.to)).toEqual([["tempfail-once@x.test"], ["ok@x.test"]]);
    sink.reset();
    expect(await rcpt("tempfail-once@x.test")).toMatchObject({ ok: false, code: 451 });
  });

  it("lets a test script RCPT and DATA replies", async () => {
    sink = await startSink({
      rcptReply: (rcpt) => (rcpt.startsWith("greylist") ? { code: 450, message: "4.7.1 greylisted" } : undefined),
      dataReply: (msg) =>
        msg.raw.includes("SPAM") ? { code: 550, message: "5.7.1 spam" } : { code: 250, message: "2.0.0 queued as X1" },
    });
    expect(await send({ port: sink.port }, { from: "a@x.test", to: "greylist@x.test" })).toMatchObject({ code: 450 });
    expect(await send({ port: sink.port }, { from: "a@x.test", to: "permfail@x.test" })).toMatchObject({ code: 550 });
    const spam = await send({ port: sink.port }, { from: "a@x.test", to: "b@x.test" }, "Subject: SPAM\r\n\r\nx\r\n");
    expect(spam).toMatchObject({ ok: false, code: 550 });
    const ok = await send({ port: sink.port }, { from: "a@x.test", to: "b@x.test" });
    expect(ok.response).toBe("250 2.0.0 queued as X1");
  });

  it("records SMTPUTF8, and hides it when smtputf8 is false", async () => {
    sink = await startSink();
    expect((await send({ port: sink.port }, { from: "a@x.test", to: "jürgen@x.test" })).ok).toBe(true);
    const [m] = await sink.waitForMessages(1);
    expect(m).toMatchObject({ utf8: true, to: ["jürgen@x.test"] });
    await sink.close();

    sink = await startSink({ smtputf8: false });
    const refused = await send({ port: sink.port }, { from: "a@x.test", to: "jürgen@x.test" });
    expect(refused.ok).toBe(false);
    expect((await send({ port: sink.port }, { from: "a@x.test", to: "b@x.test" })).ok).toBe(true);
    expect((await sink.waitForMessages(1))[0]!.utf8).toBe(false);
  });

  it("counts a large body without keeping it when discardBody is set", async () => {
    sink = await startSink({ discardBody: true });
    const body = Buffer.concat([Buffer.from("Subject: big\r\n\r\n"), Buffer.alloc(5 * 1024 * 1024, "a\r\n")]);
    expect((await send({ port: sink.port }, { from: "a@x.test", to: "b@x.test" }, body)).ok).toBe(true);
    const [m] = await sink.waitForMessages(1);
    expect(m!.raw.length).toBe(0);
    expect(m!.size).toBeGreaterThanOrEqual(body.length);
  });

  it("rejects waitForMessages after its deadline", async () => {
    sink = await startSink();
    await expect(sink.waitForMessages(1, 200)).rejects.toThrow(/got 0 of 1 messages/);
  });

  it("refuses a non-loopback host, and a port that is taken", async () => {
    await expect(startSink({ host: "0.0.0.0" })).rejects.toThrow(/loopback/);
    sink = await startSink();
    await expect(startSink({ port: sink.port })).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
});

describe("dns server", () => {
  let dns: DnsServer;
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  beforeAll(async () => {
    dns = await startDnsServer({
      "Example.TEST.": {
        MX: [
          { exchange: "mx2.example.test", priority: 20 },
          { exchange: "mx1.example.test", priority: 10 },
        ],
        TXT: ["v=spf1 -all", "x".repeat(300)],
      },
      "mx1.example.test": { A: ["127.0.0.1"], AAAA: ["::1"] },
      "nullmx.test": { MX: [{ exchange: ".", priority: 0 }] },
      "broken.test": { servfail: true },
      "gone.test": { nxdomain: true },
    });
    resolver.setServers([dns.nameserver]);
  });
  afterAll(async () => {
    await dns?.close();
  });

  it("answers MX, A, AAAA and TXT, case-insensitively, and logs the questions", async () => {
    expect(dns.nameserver).toBe(`127.0.0.1:${dns.port}`);
    const mx = await resolver.resolveMx("EXAMPLE.test");
    expect(mx.sort((a, b) => a.priority - b.priority)).toEqual([
      { exchange: "mx1.example.test", priority: 10 },
      { exchange: "mx2.example.test", priority: 20 },
    ]);
    expect(await resolver.resolve4("mx1.example.test")).toEqual(["127.0.0.1"]);
    expect(await resolver.resolve6("mx1.example.test")).toEqual(["::1"]);
    const txt = await resolver.resolveTxt("example.test");
    expect(txt.map((chunks) => chunks.join(""))).toEqual(["v=spf1 -all", "x".repeat(300)]);
    expect(dns.queries).toContainEqual({ name: "example.test", type: "MX" });
  });

  it("tells NXDOMAIN, NODATA and SERVFAIL apart", async () => {
    await expect(resolver.resolveMx("absent.test")).rejects.toMatchObject({ code: "ENOTFOUND" });
    await expect(resolver.resolveMx("gone.test")).rejects.toMatchObject({ code: "ENOTFOUND" });
    await expect(resolver.resolveMx("mx1.example.test")).rejects.toMatchObject({ code: "ENODATA" });
    await expect(resolver.resolve4("broken.test")).rejects.toMatchObject({ code: "ESERVFAIL" });
  });

  it("serves a null MX (RFC 7505) as exchange ''", async () => {
    expect(await resolver.resolveMx("nullmx.test")).toEqual([{ exchange: "", priority: 0 }]);
  });

  it("applies set() and clear() at once, even through a caching resolver", async () => {
    dns.set("late.test", { A: ["127.0.0.9"] });
    expect(await resolver.resolve4("late.test")).toEqual(["127.0.0.9"]);
    dns.set("late.test", { A: ["127.0.0.10"] });
    expect(await resolver.resolve4("late.test")).toEqual(["127.0.0.10"]);
    dns.set("late.test", { nxdomain: true });
    await expect(resolver.resolve4("late.test")).rejects.toMatchObject({ code: "ENOTFOUND" });
  });

  it("sets AA over UDP, and falls back to TCP for an answer too big for UDP", async () => {
    const udp = createSocket("udp4");
    const reply = await new Promise<Buffer>((resolve) => {
      udp.once("message", (msg) => resolve(msg));
      udp.send(
        dnsPacket.encode({ id: 7, questions: [{ type: "A", name: "mx1.example.test" }] }),
        dns.port,
        "127.0.0.1",
      );
    });
    udp.close();
    const decoded = dnsPacket.decode(reply);
    expect(decoded).toMatchObject({ id: 7, flag_aa: true, flag_tc: false });

    dns.set("big.test", { TXT: Array.from({ length: 20 }, (_, i) => `record ${i} ${"y".repeat(60)}`) });
    expect(await resolver.resolveTxt("big.test")).toHaveLength(20);
  });

  it("answers over TCP with two-byte length framing, several queries on one connection", async () => {
    const socket = connect(dns.port, "127.0.0.1");
    const replies: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const done = new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          replies.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
          pending = pending.subarray(2 + pending.readUInt16BE(0));
        }
        if (replies.length === 2) resolve();
      });
    });
    socket.write(
      Buffer.concat([
        dnsPacket.streamEncode({ id: 1, questions: [{ type: "MX", name: "nullmx.test" }] }),
        dnsPacket.streamEncode({ id: 2, questions: [{ type: "A", name: "absent.test" }] }),
      ]),
    );
    await done;
    socket.destroy();
    const [first, second] = replies.map((r) => dnsPacket.decode(r));
    expect(first).toMatchObject({
      id: 1,
      flag_aa: true,
      rcode: "NOERROR",
      answers: [{ type: "MX", data: { exchange: "." } }],
    });
    expect(second).toMatchObject({ id: 2, rcode: "NXDOMAIN", answers: [] });
  });
});

describe("postfix peer", () => {
  beforeAll(async () => {
    await assertPostfixUp();
  });

  it("accepts any local part at postfix.test over STARTTLS and stores it in the Maildir", async () => {
    const marker = `peer-selftest-${randomUUID()}`;
    const r = await send(
      { port: POSTFIX.port, requireTLS: true, tls: { rejectUnauthorized: false } },
      { from: "a@zonerelay.test", to: `someone+${marker}@${POSTFIX.domain}` },
      `Subject: ${marker}\r\n\r\nhello postfix\r\n`,
    );
    expect(r).toMatchObject({ ok: true });
    expect(r.response).toMatch(/^250 2\.0\.0 Ok: queued/);
    const raw = await waitForPostfixMail((m) => m.includes(marker));
    expect(raw).toContain(`Delivered-To: someone+${marker}@${POSTFIX.domain}`);
    expect(raw).toMatch(/using TLSv1\.[23]/);
  });

  it("rejects other domains with 5xx", async () => {
    const r = await send({ port: POSTFIX.port, ignoreTLS: true }, { from: "a@zonerelay.test", to: "x@example.test" });
    expect(r.ok).toBe(false);
    expect(r.code).toBe(554);
    expect(r.response).toContain("Relay access denied");
  });
});
