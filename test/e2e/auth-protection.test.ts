// Logins under attack: AUTH is refused in plain text from a non-loopback client, and failed logins — SMTP AUTH,
// API keys, the web admin — lock the client address or the username out (SMTP 454 4.7.0, HTTP 429) through the
// coordinator, so a lockout made on one host holds on the others.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { afterEach, describe, expect, it } from "vitest";
import { hashApiKey, hashPassword } from "../../shared/auth/password.ts";
import type { ConfigInput } from "../../shared/config/schema.ts";
import { testCerts } from "../support/certs.ts";
import { REDIS_URL, uniquePrefix } from "../support/redis.ts";
import { startTestRelay, type TestRelay } from "../support/relay.ts";
import { type SmtpTalk, smtpTalk } from "../support/smtp-talk.ts";

let relays: TestRelay[] = [];
let talks: SmtpTalk[] = [];
let dir: string | undefined;
afterEach(async () => {
  for (const t of talks) t.close();
  talks = [];
  for (const r of relays) await r.cleanup();
  relays = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString("base64");

async function relay(over: ConfigInput): Promise<TestRelay> {
  const r = await startTestRelay({
    users: { ann: { password: await hashPassword("correct horse") }, bob: { password: await hashPassword("b0b") } },
    smtpInterfaces: { feeder: { allowedNetworks: [] } },
    ...over,
  });
  relays.push(r);
  return r;
}

/** One AUTH PLAIN on a fresh connection; returns the reply. */
async function auth(port: number, user: string, pass: string, host = "127.0.0.1"): Promise<string> {
  const talk = await smtpTalk(port, host);
  talks.push(talk);
  await talk.send("EHLO client.test");
  const reply = await talk.send(`AUTH PLAIN ${plain(user, pass)}`);
  talk.close();
  return reply;
}

/** An address of this host that is not loopback, so a client can connect from outside 127.0.0.0/8. */
function nonLoopbackAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  throw new Error("this test needs a non-loopback IPv4 address on some interface (none found)");
}

describe("AUTH only over TLS, except on loopback", () => {
  it("refuses AUTH in plain text from a non-loopback client with 538 and accepts it after STARTTLS", async () => {
    const host = nonLoopbackAddress();
    dir = mkdtempSync(join(tmpdir(), "zr-tls-"));
    const { key, cert } = testCerts();
    writeFileSync(join(dir, "key.pem"), key);
    writeFileSync(join(dir, "cert.pem"), cert);
    const r = await relay({
      smtpInterfaces: {
        feeder: { host, allowedNetworks: [], tls: { key: join(dir, "key.pem"), cert: join(dir, "cert.pem") } },
      },
    });
    // Connecting to our own eth address: the relay sees the client at that address, not on loopback.
    expect(await auth(r.smtpPort, "ann", "correct horse", host)).toMatch(/^538 5\.7\.11 /);
    const talk = await smtpTalk(r.smtpPort, host);
    talks.push(talk);
    await talk.send("EHLO client.test");
    expect(await talk.send("MAIL FROM:<ann@sender.test>")).toMatch(/^530 /); // not allow-listed: no relay

    const transport = nodemailer.createTransport({
      host,
      port: r.smtpPort,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: "ann", pass: "correct horse" },
    });
    try {
      await expect(transport.verify()).resolves.toBe(true);
    } finally {
      transport.close();
    }
  });

  it("accepts AUTH in plain text on loopback", async () => {
    const r = await relay({});
    expect(await auth(r.smtpPort, "ann", "correct horse")).toMatch(/^235 /);
  });
});

describe("brute-force throttling of SMTP AUTH", () => {
  it("locks a username out after its failures (454 4.7.0, even for the right password) until the lockout ends", async () => {
    const r = await relay({ authThrottle: { userFailures: 3, ipFailures: 100, lockout: "1500ms" } });
    for (let i = 0; i < 3; i++) expect(await auth(r.smtpPort, "ann", `guess${i}`)).toMatch(/^535 5\.7\.8 /);
    expect(await auth(r.smtpPort, "ann", "correct horse")).toMatch(/^454 4\.7\.0 .*try again/);
    expect(await auth(r.smtpPort, "ANN", "guess")).toMatch(/^454 4\.7\.0 /);
    // Someone else from the same address is not locked out.
    expect(await auth(r.smtpPort, "bob", "b0b")).toMatch(/^235 /);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(await auth(r.smtpPort, "ann", "correct horse")).toMatch(/^235 /);
  });

  it("locks a client address out after failures with any usernames", async () => {
    const r = await relay({ authThrottle: { userFailures: 100, ipFailures: 4 } });
    for (let i = 0; i < 4; i++) expect(await auth(r.smtpPort, `user${i}`, "x")).toMatch(/^535 /);
    expect(await auth(r.smtpPort, "bob", "b0b")).toMatch(/^454 4\.7\.0 /);
  });

  it("holds a lockout made on one host on another host sharing the Redis coordinator", async () => {
    const shared: ConfigInput = {
      dbs: { redis: REDIS_URL, redisPrefix: uniquePrefix("auth") },
      authThrottle: { userFailures: 3, ipFailures: 100 },
    };
    const h1 = await relay(shared);
    const h2 = await relay(shared);
    for (let i = 0; i < 3; i++) expect(await auth(h1.smtpPort, "ann", `guess${i}`)).toMatch(/^535 /);
    expect(await auth(h2.smtpPort, "ann", "correct horse")).toMatch(/^454 4\.7\.0 /);
    expect(await auth(h2.smtpPort, "bob", "b0b")).toMatch(/^235 /);
  });
});

describe("brute-force throttling of the HTTP API", () => {
  it("answers 429 problem+json with Retry-After to an address that keeps sending wrong API keys", async () => {
    const key = "zr_right_key_0123456789abcdef";
    const r = await relay({
      api: { keys: [{ id: "app", hash: hashApiKey(key) }] },
      authThrottle: { ipFailures: 3, lockout: "1m" },
    });
    const get = (k: string) => fetch(`${r.apiUrl}/v1/queue/counts`, { headers: { authorization: `Bearer ${k}` } });
    for (let i = 0; i < 2; i++) expect((await get(`zr_wrong_${i}`)).status).toBe(401);
    const locked = await get("zr_wrong_2");
    expect(locked.status).toBe(429);
    expect(locked.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThanOrEqual(59);
    expect(await locked.json()).toMatchObject({ type: "urn:zonerelay:problem:auth-throttled", status: 429 });
    expect((await get("zr_wrong_3")).status).toBe(429);
    // A right key is never throttled: a client behind the same NAT as a scanner keeps working.
    expect((await get(key)).status).toBe(200);
  });

  it("locks the web admin login out after failures, before checking the password", async () => {
    const r = await relay({
      admin: { users: { root: { password: await hashPassword("admin pw") } } },
      authThrottle: { userFailures: 2, ipFailures: 100 },
    });
    const login = (password: string) =>
      fetch(`${r.apiUrl}/admin/login`, {
        method: "POST",
        body: new URLSearchParams({ user: "root", password }),
        redirect: "manual",
      });
    expect((await login("no")).status).toBe(401);
    expect((await login("nope")).status).toBe(401);
    const locked = await login("admin pw");
    expect(locked.status).toBe(429);
    expect(locked.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(await locked.text()).toContain("Too many failed logins");
  });
});
