// The built-in plugins against real peers: Rspamd (the Debian package, scripts/services/rspamd.sh) rejects GTUBE,
// SRS rewrites the envelope sender and takes bounces back, webhooks are signed and retried from the outbox, and
// delivery-loop stops a message that keeps coming back.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { webhookSignature } from "../../shared/plugins/builtin/webhooks.ts";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

const RSPAMD_URL = process.env.RSPAMD_URL ?? "http://127.0.0.1:11433";
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function smtpError(promise: Promise<unknown>): Promise<{ responseCode?: number; response?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { responseCode?: number; response?: string };
  }
  throw new Error("expected the relay to refuse the message");
}

async function requireRspamd() {
  const res = await fetch(`${RSPAMD_URL}/ping`).catch(() => undefined);
  if (!res?.ok) throw new Error(`Rspamd is not running at ${RSPAMD_URL}: run \`bash scripts/services.sh up\``);
}

describe("core/rspamd", () => {
  it("rejects GTUBE with 550 5.7.1 and delivers clean mail with its score", async () => {
    await requireRspamd();
    world = await startWorld({ relay: { plugins: [{ use: "core/rspamd", options: { url: RSPAMD_URL } }] } });
    const spam = await smtpError(
      sendSmtp(
        world.relay.smtpPort,
        { from: "app@sender.test", to: ["ann@a.test"] },
        rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Cheap" }, `${GTUBE}\r\n`),
      ),
    );
    expect(spam.responseCode).toBe(550);
    expect(spam.response).toMatch(/5\.7\.1 Message rejected as spam/);

    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["ann@a.test"] },
      rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Your invoice" }, "Dear Ann, attached.\r\n"),
    );
    const [msg] = await world.sink.waitForMessages(1);
    await world.relay.waitForStates(id, ["delivered"]);
    expect(msg!.raw.toString()).toMatch(/^X-Rspamd-Score: \d+\.\d\d \/ \d+\.\d\d\r\nX-Rspamd-Action: /);
    expect(world.sink.messages).toHaveLength(1); // the spam never got here
  });

  it("tags or drops spam when configured so", async () => {
    await requireRspamd();
    world = await startWorld({
      relay: { plugins: [{ use: "core/rspamd", options: { url: RSPAMD_URL, spamAction: "tag" } }] },
    });
    await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["ann@a.test"] },
      rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Cheap" }, `${GTUBE}\r\n`),
    );
    const [tagged] = await world.sink.waitForMessages(1);
    expect(tagged!.raw.toString()).toMatch(/\r\nX-Spam: Yes\r\n/);
    await world.close();

    world = await startWorld({
      relay: { plugins: [{ use: "core/rspamd", options: { url: RSPAMD_URL, spamAction: "drop" } }] },
    });
    const dropped = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["ann@a.test"] },
      rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Cheap" }, `${GTUBE}\r\n`),
    );
    expect(dropped).toMatch(/\S/); // 250 with a queue id, yet nothing is queued
    await new Promise((r) => setTimeout(r, 1000));
    expect(world.sink.messages).toHaveLength(0);
  });

  it("checks a message with several recipients, and answers 451 when Rspamd is down and failOpen is off", async () => {
    await requireRspamd();
    world = await startWorld({ relay: { plugins: [{ use: "core/rspamd", options: { url: RSPAMD_URL } }] } });
    const spam = await smtpError(
      sendSmtp(
        world.relay.smtpPort,
        { from: "app@sender.test", to: ["ann@a.test", "bob@b.test"] },
        rfc822({ From: "app@sender.test", To: "ann@a.test, bob@b.test", Subject: "Cheap" }, `${GTUBE}\r\n`),
      ),
    );
    expect(spam.responseCode).toBe(550);
    await world.close();

    const dead = "http://127.0.0.1:9"; // nothing listens on the discard port
    world = await startWorld({
      relay: { plugins: [{ use: "core/rspamd", options: { url: dead, failOpen: false, timeoutMs: 2000 } }] },
    });
    const down = await smtpError(
      sendSmtp(
        world.relay.smtpPort,
        { from: "app@sender.test", to: ["ann@a.test"] },
        rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Hello" }),
      ),
    );
    expect(down.responseCode).toBe(451);
    expect(down.response).toMatch(/4\.7\.1 Content check unavailable/);
  });
});

describe("core/srs", () => {
  it("rewrites MAIL FROM for foreign domains and routes a bounce to the SRS address back (round trip)", async () => {
    world = await startWorld({
      relay: {
        // Loopback may not relay here: only the SRS plugin lets the bounce in.
        smtpInterfaces: { feeder: { allowedNetworks: ["192.0.2.0/24"] } },
        plugins: [
          {
            use: "core/srs",
            options: {
              secret: "a-long-srs-secret-1234",
              domain: "bounces.relay.test",
              excludeDomains: ["sender.test"],
            },
          },
        ],
      },
    });
    world.dns.set("forwarded.test", { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
    const post = (from: string) =>
      fetch(`${world!.relay.apiUrl}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ from, to: "ann@a.test", subject: "Forwarded", text: "x" }),
      });
    expect((await post("someone@forwarded.test")).status).toBe(202);
    expect((await post("app@sender.test")).status).toBe(202);
    const sent = await world.sink.waitForMessages(2);
    const forwarded = sent.find((m) => m.from !== "app@sender.test")!;
    expect(forwarded.from).toMatch(/^SRS0=[^=]{4}=[A-Z2-7]{2}=forwarded\.test=someone@bounces\.relay\.test$/);
    expect(sent.some((m) => m.from === "app@sender.test")).toBe(true); // excluded domain: unchanged

    // The receiver bounces to the SRS address; we take it in and send it to the original sender.
    await sendSmtp(
      world.relay.smtpPort,
      { from: "", to: [forwarded.from] },
      rfc822({ From: "MAILER-DAEMON@a.test", To: forwarded.from, Subject: "Undeliverable" }),
    );
    const all = await world.sink.waitForMessages(3);
    expect(all[2]!.to).toEqual(["someone@forwarded.test"]);
    expect(all[2]!.from).toBe("");

    const forged = await smtpError(
      sendSmtp(
        world.relay.smtpPort,
        { from: "", to: [forwarded.from.replace("=someone@", "=victim@")] },
        rfc822({ From: "x@a.test", To: "x", Subject: "forged" }),
      ),
    );
    expect(forged.responseCode).toBe(550);
    const relay = await smtpError(
      sendSmtp(world.relay.smtpPort, { from: "", to: ["ann@a.test"] }, rfc822({ From: "x@a.test", Subject: "relay?" })),
    );
    expect(relay.responseCode).toBe(554); // not ours, not allowed to relay
  });
});

describe("core/webhooks", () => {
  it("posts signed delivery and bounce events, retrying a failed post from the outbox", async () => {
    const received: { body: string; signature: string; id: string; ok: boolean }[] = [];
    let calls = 0;
    const server = createServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        calls++;
        received.push({
          body,
          signature: String(req.headers["x-zonerelay-signature"]),
          id: String(req.headers["x-zonerelay-event-id"]),
          ok: calls !== 1,
        });
        res.statusCode = calls === 1 ? 500 : 204; // the first post fails
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    const secret = "webhook-secret-0123456789";
    try {
      world = await startWorld({
        relay: {
          plugins: [{ use: "core/webhooks", options: { url, secret, backoff: "200ms", pollInterval: "100ms" } }],
        },
      });
      await sendSmtp(
        world.relay.smtpPort,
        { from: "app@sender.test", to: ["ann@a.test", "permfail@a.test"] },
        rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Hook me" }),
      );
      const deadline = Date.now() + 15_000;
      // Events as the receiver acknowledged them (2xx).
      const events = () => new Map(received.filter((r) => r.ok).map((r) => [r.id, JSON.parse(r.body)]));
      const kinds = () => [...events().values()].map((e) => `${e.event}:${e.rcpt}`);
      const wanted = ["bounced:permfail@a.test", "delivered:ann@a.test"];
      while (Date.now() < deadline && !wanted.every((k) => kinds().includes(k))) {
        await new Promise((r) => setTimeout(r, 100));
      }
      // (The DSN to app@sender.test is a delivery too, and has its own event.)
      expect(kinds()).toEqual(expect.arrayContaining(wanted));
      // The first post failed and was sent again with the same id.
      expect(received.filter((r) => r.id === received[0]!.id).length).toBeGreaterThanOrEqual(2);
      for (const r of received) {
        const t = Number(/t=(\d+)/.exec(r.signature)![1]);
        expect(r.signature).toBe(webhookSignature(secret, t, r.body));
      }
    } finally {
      server.close();
    }
  });
});

describe("core/delivery-loop", () => {
  it("refuses a message that passed this relay too often with 554 5.4.6", async () => {
    world = await startWorld({ relay: { plugins: [{ use: "core/delivery-loop", options: { maxHops: 2 } }] } });
    const hop = "from x by relay.zonerelay.test with ESMTP id abc; Tue, 14 Jan 2025 10:00:00 +0000";
    const err = await smtpError(
      sendSmtp(
        world.relay.smtpPort,
        { from: "app@sender.test", to: ["ann@a.test"] },
        `Received: ${hop}\r\nReceived: ${hop}\r\n${rfc822({ From: "app@sender.test", Subject: "Again" })}`,
      ),
    );
    expect(err.responseCode).toBe(554);
    expect(err.response).toMatch(/5\.4\.6 Mail loop/);
  });
});
