// Sending zones and traffic shaping, end to end: which zone and address a message leaves from, smoothed rates,
// automatic back-off from a destination that blocks an address, warm-up caps, delayed and HTTP delivery.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

let world: World | undefined;
let httpServer: Server | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
  await new Promise((r) => (httpServer ? httpServer.close(r) : r(undefined)));
  httpServer = undefined;
});

const share = (values: string[], of: string) => values.filter((v) => v === of).length / values.length;

describe("sending zones", () => {
  it("sends each zone from its own pool and EHLO name; X-Sending-Zone from a trusted interface, then removed", async () => {
    world = await startWorld({
      relay: (sink) => ({
        smtpInterfaces: { feeder: { allowRoutingHeaders: true } },
        pools: {
          default: [{ address: "127.0.0.2", name: "out1.zonerelay.test" }],
          bulk: [{ address: "127.0.0.3", name: "bulk1.zonerelay.test" }],
        },
        zones: { bulk: { pool: "bulk", port: sink.port, senderDomains: ["news.test"] } },
      }),
    });
    const port = world.relay.smtpPort;
    const plain = await sendSmtp(port, { from: "app@sender.test", to: ["one@a.test"] }, rfc822({ Subject: "plain" }));
    const news = await sendSmtp(port, { from: "x@news.test", to: ["two@a.test"] }, rfc822({ Subject: "news" }));
    const byHeader = await sendSmtp(
      port,
      { from: "app@sender.test", to: ["three@a.test"] },
      rfc822({ Subject: "by header", "X-Sending-Zone": "bulk" }),
    );
    const messages = await world.sink.waitForMessages(3);
    const to = (rcpt: string) => messages.find((m) => m.to[0] === rcpt)!;
    expect([to("one@a.test").remoteAddress, to("one@a.test").clientHostname]).toEqual([
      "127.0.0.2",
      "out1.zonerelay.test",
    ]);
    expect([to("two@a.test").remoteAddress, to("two@a.test").clientHostname]).toEqual([
      "127.0.0.3",
      "bulk1.zonerelay.test",
    ]);
    expect(to("three@a.test").remoteAddress).toBe("127.0.0.3");
    expect(to("three@a.test").raw.toString()).not.toMatch(/X-Sending-Zone/i);
    expect((await world.relay.status(plain)).deliveries[0]!.zone).toBe("default");
    expect((await world.relay.status(news)).deliveries[0]!.zone).toBe("bulk");
    expect((await world.relay.status(byHeader)).deliveries[0]!.zone).toBe("bulk");
  });

  it("reaches an IPv6-only MX from the pool's IPv6 address", async () => {
    world = await startWorld({
      sink: { host: "::1" },
      relay: {
        pools: {
          default: [
            { address: "127.0.0.2", name: "v4.zonerelay.test" },
            { address: "::1", name: "v6.zonerelay.test" },
          ],
        },
      },
    });
    world.dns.set("v6only.test", { MX: [{ exchange: "mx6.v6only.test", priority: 10 }] });
    world.dns.set("mx6.v6only.test", { AAAA: ["::1"] });
    await sendSmtp(world.relay.smtpPort, { from: "app@sender.test", to: ["x@v6only.test"] }, rfc822({ Subject: "v6" }));
    const [msg] = await world.sink.waitForMessages(1);
    expect(msg!.remoteAddress).toBe("::1");
    expect(msg!.clientHostname).toBe("v6.zonerelay.test");
  });

  it("spreads connections over the pool by weight", async () => {
    world = await startWorld({
      relay: {
        pools: {
          default: [
            { address: "127.0.0.2", weight: 3 },
            { address: "127.0.0.3", weight: 1 },
          ],
        },
      },
    });
    // One lane (and so one address choice) per domain: 100 domains, 100 choices.
    const domains = Array.from({ length: 100 }, (_, i) => `w${i}.test`);
    for (const d of domains) world.dns.set(d, { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
    await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: domains.map((d) => `x@${d}`) },
      rfc822({ Subject: "weights" }),
    );
    const messages = await world.sink.waitForMessages(100, 30_000);
    const heavy = share(
      messages.map((m) => m.remoteAddress),
      "127.0.0.2",
    );
    // Expected 0.75; ±0.15 is more than three standard deviations for 100 choices.
    expect(heavy).toBeGreaterThan(0.6);
    expect(heavy).toBeLessThan(0.9);
  }, 60_000);

  it("smooths a zone's rate over time instead of bursting (10 messages/second → 30 messages in ~2.9 s)", async () => {
    world = await startWorld({ relay: { zones: { default: { throttling: "10 messages/second" } } } });
    const recipients = Array.from({ length: 30 }, (_, i) => `r${i}@a.test`);
    await sendSmtp(world.relay.smtpPort, { from: "app@sender.test", to: recipients }, rfc822({ Subject: "rate" }));
    const messages = await world.sink.waitForMessages(30, 30_000);
    const times = messages.map((m) => m.receivedAt).sort((a, b) => a - b);
    const spanMs = times.at(-1)! - times[0]!;
    // Burst 1, then one token per 100 ms: 29 intervals.
    expect(spanMs).toBeGreaterThan(2_900 * 0.9);
    expect(spanMs).toBeLessThan(2_900 * 1.1);
    // Smooth, not front-loaded: the first second carries about a third of the messages, not most of them.
    expect(times.filter((t) => t - times[0]! < 1_000).length).toBeLessThanOrEqual(12);
  }, 60_000);
});

describe("smarthost", () => {
  it("sends everything of a zone to its smarthost, authenticating only over TLS", async () => {
    world = await startWorld({
      sink: { tls: true, auth: { user: "relay", pass: "s3cret" } },
      relay: (sink) => ({
        zones: { default: { host: "127.0.0.1", port: sink.port, auth: { user: "relay", pass: "s3cret" } } },
      }),
    });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["anyone@nowhere-in-dns.test"] },
      rfc822({ Subject: "via smarthost" }),
    );
    const [msg] = await world.sink.waitForMessages(1);
    expect(msg!.user).toBe("relay");
    expect(msg!.secure).toBe(true);
    await world.relay.waitForStates(id, ["delivered"]);
  });
});

describe("automatic back-off", () => {
  it("suspends only the blocked address for only that destination, lists it, and lets an operator lift it", async () => {
    world = await startWorld({
      sink: {
        rcptReply: (rcpt, session) =>
          session.remoteAddress === "127.0.0.2" && rcpt.endsWith("@alpha.test")
            ? { code: 554, message: "5.7.1 Service unavailable; Client host [127.0.0.2] blocked using Spamhaus" }
            : undefined,
      },
      relay: {
        pools: {
          default: [
            { address: "127.0.0.2", weight: 1000 },
            { address: "127.0.0.3", weight: 1 },
          ],
        },
      },
    });
    const { dns, relay, sink } = world;
    dns.set("alpha.test", { MX: [{ exchange: "mx.alpha-mail.test", priority: 10 }] });
    dns.set("mx.alpha-mail.test", { A: ["127.0.0.1"] });
    dns.set("beta.test", { MX: [{ exchange: "mx.beta-mail.test", priority: 10 }] });
    dns.set("mx.beta-mail.test", { A: ["127.0.0.1"] });

    const alpha = Array.from({ length: 5 }, (_, i) => `u${i}@alpha.test`);
    const id = await sendSmtp(relay.smtpPort, { from: "app@sender.test", to: alpha }, rfc822({ Subject: "alpha" }));
    const status = await relay.waitForStates(
      id,
      alpha.map(() => "delivered"),
    );
    const history = status.deliveries.flatMap((d) => d.history);
    expect(history.filter((a) => a.outcome === "deferred").map((a) => a.category)).toEqual(["blocklisted"]);
    expect(sink.messages.every((m) => m.remoteAddress === "127.0.0.3")).toBe(true);

    const listed = (await (await fetch(`${relay.apiUrl}/v1/suspensions`)).json()) as {
      suspensions: { localAddress: string; destination: string; reason: string }[];
    };
    expect(listed.suspensions).toEqual([
      expect.objectContaining({
        localAddress: "127.0.0.2",
        destination: "alpha-mail.test",
        reason: expect.stringMatching(/Spamhaus/),
      }),
    ]);

    // Another destination still gets the suspended address (alpha's recipients went in fewer transactions).
    const before = sink.messages.length;
    await sendSmtp(relay.smtpPort, { from: "app@sender.test", to: ["v@beta.test"] }, rfc822({ Subject: "beta" }));
    await sink.waitForMessages(before + 1);
    expect(sink.messages.find((m) => m.to[0] === "v@beta.test")!.remoteAddress).toBe("127.0.0.2");

    const lifted = await fetch(`${relay.apiUrl}/v1/suspensions/alpha-mail.test/127.0.0.2`, { method: "DELETE" });
    expect(lifted.status).toBe(200);
    const after = (await (await fetch(`${relay.apiUrl}/v1/suspensions`)).json()) as { suspensions: unknown[] };
    expect(after.suspensions).toEqual([]);
  }, 60_000);

  it("defers, without connecting, while every address rests for a destination", async () => {
    world = await startWorld({
      sink: {
        rcptReply: (rcpt) =>
          rcpt.endsWith("@alpha.test")
            ? { code: 421, message: "4.7.0 Rate limit exceeded for your IP, try again later" }
            : undefined,
      },
      relay: { pools: { default: [{ address: "127.0.0.2" }] } },
    });
    world.dns.set("alpha.test", { MX: [{ exchange: "mx.alpha-mail.test", priority: 10 }] });
    world.dns.set("mx.alpha-mail.test", { A: ["127.0.0.1"] });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["a@alpha.test", "b@alpha.test"] },
      rfc822({ Subject: "rest" }),
    );
    const status = await world.relay.waitForStates(id, ["deferred", "deferred"]);
    const responses = status.deliveries.flatMap((d) => d.history.map((a) => a.response));
    expect(responses.filter((r) => /^421/.test(r))).toHaveLength(1);
    expect(responses.filter((r) => /No local address may send to alpha-mail\.test/.test(r))).toHaveLength(1);
    const connectionsBefore = world.sink.connections;
    await new Promise((r) => setTimeout(r, 2_500));
    expect(world.sink.connections).toBe(connectionsBefore);
  }, 30_000);
});

describe("warm-up", () => {
  it("caps a new address at its schedule's daily volume and moves the overflow to warm addresses", async () => {
    const today = new Date().toISOString().slice(0, 10);
    world = await startWorld({
      relay: {
        warmupSchedules: {
          tiny: [
            { day: 1, perDay: 3 },
            { day: 30, perDay: 1000 },
          ],
        },
        pools: {
          default: [
            { address: "127.0.0.2", weight: 1 },
            { address: "127.0.0.3", weight: 1000, warmup: { since: today, schedule: "tiny" } },
          ],
        },
      },
    });
    const domains = Array.from({ length: 10 }, (_, i) => `warm${i}.test`);
    for (const d of domains) world.dns.set(d, { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
    await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: domains.map((d) => `x@${d}`) },
      rfc822({ Subject: "warm-up" }),
    );
    const messages = await world.sink.waitForMessages(10, 20_000);
    expect(messages.filter((m) => m.remoteAddress === "127.0.0.3")).toHaveLength(3);
    expect(messages.filter((m) => m.remoteAddress === "127.0.0.2")).toHaveLength(7);
  }, 40_000);
});

describe("delayed delivery", () => {
  it("does not send a message before its sendAt", async () => {
    world = await startWorld();
    const sendAt = new Date(Date.now() + 3_000);
    const res = await fetch(`${world.relay.apiUrl}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ from: "app@sender.test", to: "later@a.test", subject: "later", text: "x", sendAt }),
    });
    expect(res.status).toBe(202);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(world.sink.messages).toHaveLength(0);
    const [msg] = await world.sink.waitForMessages(1, 10_000);
    expect(msg!.receivedAt).toBeGreaterThanOrEqual(sendAt.getTime());
  });

  it("holds a message with a future Date header when holdFutureDated is on", async () => {
    world = await startWorld({ relay: { queue: { holdFutureDated: true } } });
    const date = new Date(Date.now() + 3_600_000);
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["future@a.test"] },
      rfc822({ Subject: "future", Date: date.toUTCString() }),
    );
    await new Promise((r) => setTimeout(r, 1_500));
    expect(world.sink.messages).toHaveLength(0);
    const status = (await world.relay.status(id)) as unknown as {
      deliveries: { state: string; nextAttemptAt: string }[];
    };
    expect(status.deliveries[0]!.state).toBe("queued");
    expect(Math.abs(Date.parse(status.deliveries[0]!.nextAttemptAt) - date.getTime())).toBeLessThan(1_000);
  });
});

describe("HTTP delivery", () => {
  it("POSTs the message to a route's URL and maps 2xx / 503 / 400 to delivered / deferred / bounced", async () => {
    const received: { headers: IncomingMessage["headers"]; body: string }[] = [];
    httpServer = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        received.push({ headers: req.headers, body });
        const to = String(req.headers["x-envelope-to"]);
        res.statusCode = to.startsWith("ok@") ? 202 : to.startsWith("busy@") ? 503 : 400;
        res.end(to.startsWith("bad@") ? "unknown mailbox" : "");
      });
    });
    await new Promise<void>((r) => httpServer!.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/inbound`;
    world = await startWorld({
      relay: { routes: { "hooks.test": { http: { url, headers: { authorization: "Bearer t0k" } } } } },
    });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["ok@hooks.test", "busy@hooks.test", "bad@hooks.test"] },
      rfc822({ Subject: "over http" }, "Hello over HTTP.\r\n"),
    );
    const status = await world.relay.waitForStates(id, ["delivered", "deferred", "bounced"]);
    const by = Object.fromEntries(status.deliveries.map((d) => [d.recipient, d]));
    expect(by["bad@hooks.test"]!.history[0]!.response).toMatch(/^HTTP 400 .*unknown mailbox/);
    const ok = received.find((r) => r.headers["x-envelope-to"] === "ok@hooks.test")!;
    expect(ok.headers["x-envelope-from"]).toBe("app@sender.test");
    expect(ok.headers.authorization).toBe("Bearer t0k");
    expect(ok.headers["content-type"]).toBe("message/rfc822");
    expect(ok.body).toMatch(/^Received: /);
    expect(ok.body).toContain("Hello over HTTP.");
  });
});
