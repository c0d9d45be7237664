// Plugins end to end: loaded from config by path and as built-ins, hooks in config order, a streaming rewrite that
// DKIM still covers, and every error path answered (SMTP and HTTP) instead of crashing the relay.
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dnsRecordFor } from "../../shared/mail/dkim/keys.ts";
import { hookLog } from "../fixtures/plugins/recorder.ts";
import { mailauthDkim } from "../support/dkim-verifiers.ts";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

const RECORDER = join(import.meta.dirname, "../fixtures/plugins/recorder.ts");
const AUTH = join(import.meta.dirname, "../fixtures/plugins/auth.ts");
const KEY_PROVIDER = join(import.meta.dirname, "../fixtures/plugins/key-provider.ts");
const EXAMPLE = join(import.meta.dirname, "../../examples/plugins/policy-tag.ts");

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

function headers(raw: Buffer, name: string): string[] {
  const head = raw
    .toString("utf8")
    .split("\r\n\r\n")[0]!
    .replace(/\r\n[ \t]+/g, " ");
  return head
    .split("\r\n")
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).trim());
}

async function smtpError(promise: Promise<unknown>): Promise<{ responseCode?: number; response?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { responseCode?: number; response?: string };
  }
  throw new Error("expected the relay to refuse the message");
}

describe("plugins", () => {
  it("run their hooks in config order, through the whole life cycle of a message", async () => {
    world = await startWorld({
      relay: {
        plugins: [
          { use: RECORDER, options: { label: "one" } },
          { use: EXAMPLE, options: { tag: "first" } },
          { use: RECORDER, options: { label: "two" } },
          { use: EXAMPLE, options: { tag: "second" } },
          { use: "core/default-headers", options: { add: { "X-Mailer-Relay": "ZoneRelay" } } },
        ],
      },
    });
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["ann@a.test"] },
      rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Hooks", Bcc: "secret@a.test" }),
    );
    const [msg] = await world.sink.waitForMessages(1);
    await world.relay.waitForStates(id, ["delivered"]);
    expect(headers(msg!.raw, "X-Recorder")).toEqual(["one", "two"]);
    expect(headers(msg!.raw, "X-Policy-Tag")).toEqual(["first", "second"]);
    expect(headers(msg!.raw, "X-Sent-By-Recorder")).toEqual(["one", "two"]);
    expect(headers(msg!.raw, "X-Mailer-Relay")).toEqual(["ZoneRelay"]);
    expect(headers(msg!.raw, "MIME-Version")).toEqual(["1.0"]);
    expect(headers(msg!.raw, "Bcc")).toEqual([]); // default-headers removes it
    // sender:delivered runs after the completion is recorded; poll briefly.
    for (let i = 0; i < 50 && !hookLog("two").includes("sender:delivered"); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(hookLog("one")).toEqual([
      "message:store",
      "message:headers",
      "message:queue",
      "queue:route",
      "sender:fetch",
      "sender:connect",
      "sender:headers",
      "sender:delivered",
    ]);
  });

  it("rewrite the message as a stream (core/footer) and DKIM signs it as rewritten", async () => {
    const key = generateKeyPairSync("ed25519").privateKey;
    world = await startWorld({
      relay: {
        plugins: [{ use: "core/footer", options: { text: "Sent through ZoneRelay.\nUnsubscribe: reply STOP" } }],
        dkim: {
          keys: [
            {
              domain: "sender.test",
              selector: "f",
              privateKey: key.export({ type: "pkcs8", format: "pem" }).toString(),
            },
          ],
        },
      },
    });
    world.dns.set("f._domainkey.sender.test", { TXT: [dnsRecordFor(key)] });
    await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["ann@a.test", "html@b.test"] },
      rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Footer" }, "Hello Ann,\r\nsee you.\r\n"),
    );
    await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["bob@a.test"] },
      rfc822(
        { From: "app@sender.test", To: "bob@a.test", Subject: "HTML", "Content-Type": "text/html" },
        "<p>Hi</p>\r\n",
      ),
    );
    const messages = await world.sink.waitForMessages(3);
    const plain = messages.find((m) => m.to[0] === "ann@a.test")!.raw;
    expect(plain.toString()).toMatch(/see you\.\r\n-- \r\nSent through ZoneRelay\.\r\nUnsubscribe: reply STOP\r\n$/);
    expect(await mailauthDkim(plain, world.dns.nameserver, "app@sender.test")).toEqual(["sender.test/f=pass"]);
    const html = messages.find((m) => m.to[0] === "bob@a.test")!.raw;
    expect(html.toString()).toMatch(/<p>Hi<\/p>\r\n$/); // not text/plain: left alone
    expect(await mailauthDkim(html, world.dns.nameserver, "app@sender.test")).toEqual(["sender.test/f=pass"]);
  });

  it("provide DKIM keys per delivery (a key-provider plugin), hashed at send time when intake did not", async () => {
    const key = generateKeyPairSync("ed25519").privateKey;
    world = await startWorld({
      relay: {
        plugins: [
          {
            use: KEY_PROVIDER,
            options: {
              domain: "sender.test",
              selector: "kp",
              privateKey: key.export({ type: "pkcs8", format: "pem" }).toString(),
            },
          },
        ],
      },
    });
    world.dns.set("kp._domainkey.sender.test", { TXT: [dnsRecordFor(key)] });
    await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["ann@a.test"] },
      rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Key from a plugin" }, "Body  with  spaces \r\n"),
    );
    const [msg] = await world.sink.waitForMessages(1);
    // simple/simple: intake hashed only the configured (relaxed) body, so the sender hashed the stored body itself.
    expect(msg!.raw.toString()).toMatch(
      /^DKIM-Signature: v=1; a=ed25519-sha256; c=simple\/simple; d=sender\.test; s=kp;/,
    );
    expect(await mailauthDkim(msg!.raw, world.dns.nameserver, "app@sender.test")).toEqual(["sender.test/kp=pass"]);
  });

  it("authenticate SMTP users (smtp:auth) and route recipients (queue:route)", async () => {
    world = await startWorld({
      relay: (sink) => ({
        // Only 192.0.2.0/24 may relay without AUTH: loopback clients must log in.
        smtpInterfaces: { feeder: { allowedNetworks: ["192.0.2.0/24"] } },
        zones: { bulk: { port: sink.port } },
        plugins: [
          { use: AUTH, options: { users: { "app-user": "app-secret" } } },
          { use: RECORDER, options: { label: "route" } },
        ],
      }),
    });
    const wrong = await smtpError(
      sendSmtp(
        world.relay.smtpPort,
        { from: "app@sender.test", to: ["ann@a.test"] },
        rfc822({ From: "app@sender.test", Subject: "x" }),
        { user: "app-user", pass: "nope" },
      ),
    );
    expect(wrong.responseCode).toBe(535);
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["ann@a.test", "bulk-bob@b.test"] },
      rfc822({ From: "app@sender.test", To: "ann@a.test", Subject: "Logged in" }),
      { user: "app-user", pass: "app-secret" },
    );
    const status = await world.relay.waitForStates(id, ["delivered", "delivered"]);
    expect(Object.fromEntries(status.deliveries.map((d) => [d.recipient, d.zone]))).toEqual({
      "ann@a.test": "default",
      "bulk-bob@b.test": "bulk",
    });
    // The status API shows who sent it (its `source`).
    expect((status as unknown as { source: { user?: string } }).source.user).toBe("app-user");
  });

  it("answer a refusal or a crash with a clear SMTP reply, and the relay goes on", async () => {
    world = await startWorld({
      relay: {
        plugins: [
          { use: EXAMPLE, options: { tag: "t", blockedSenders: ["spammer@sender.test"] } },
          { use: RECORDER, options: { label: "errors" } },
        ],
      },
    });
    const port = world.relay.smtpPort;
    const send = (from: string, subject: string) =>
      sendSmtp(port, { from, to: ["ann@a.test"] }, rfc822({ From: from, To: "ann@a.test", Subject: subject }));

    const blocked = await smtpError(send("spammer@sender.test", "hi"));
    expect(blocked.responseCode).toBe(550);
    expect(blocked.response).toMatch(/5\.7\.1 Sender spammer@sender\.test is not allowed here/);

    const crashed = await smtpError(send("app@sender.test", "please crash-me"));
    expect(crashed.responseCode).toBe(451);
    expect(crashed.response).toMatch(/4\.7\.1 Temporary local problem \(plugin recorder\)/);

    const rejected = await smtpError(send("app@sender.test", "reject-me"));
    expect(rejected.responseCode).toBe(554);
    expect(rejected.response).toMatch(/Rejected by recorder/);

    const deferred = await smtpError(send("app@sender.test", "defer-me"));
    expect(deferred.responseCode).toBe(451);

    // Still alive and well.
    const id = await send("app@sender.test", "fine");
    await world.relay.waitForStates(id, ["delivered"]);
  });

  it("answer the HTTP API with problem+json, and defer or bounce a delivery a sender hook refuses", async () => {
    world = await startWorld({
      relay: {
        plugins: [
          { use: EXAMPLE, options: { tag: "t", blockedSenders: ["spammer@sender.test"] } },
          { use: RECORDER, options: { label: "http" } },
        ],
      },
    });
    const post = (body: unknown) =>
      fetch(`${world!.relay.apiUrl}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const res = await post({ from: "spammer@sender.test", to: "ann@a.test", subject: "x", text: "x" });
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toMatch(/problem\+json/);
    expect(((await res.json()) as { type: string }).type).toBe("urn:zonerelay:problem:rejected");

    const crash = await post({ from: "app@sender.test", to: "ann@a.test", subject: "crash-me", text: "x" });
    expect(crash.status).toBe(503);
    expect(crash.headers.get("retry-after")).toBe("30");

    const ok = await post({
      from: "app@sender.test",
      to: ["plugin-defer@a.test", "plugin-bounce@a.test", "ann@a.test"],
      subject: "send-time",
      text: "x",
    });
    expect(ok.status).toBe(202);
    const { id } = (await ok.json()) as { id: string };
    const status = await world.relay.waitForStates(id, ["deferred", "bounced", "delivered"]);
    const by = Object.fromEntries(status.deliveries.map((d) => [d.recipient, d.history[0]!.response]));
    expect(by["plugin-defer@a.test"]).toMatch(/^451 4\.7\.1 Not now/);
    expect(by["plugin-bounce@a.test"]).toMatch(/^550 5\.7\.1 Never/);
  });
});
