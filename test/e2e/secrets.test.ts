// Secrets never leave the relay in what it prints: not in `zonerelay check-config`, not in GET /v1/config, not in
// its logs at trace level while clients log in with right and wrong passwords and keys and mail goes out through
// a smarthost that wants AUTH.
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { hashApiKey, hashPassword } from "../../shared/auth/password.ts";
import { type ProcessWorld, startProcessWorld } from "../support/process-world.ts";
import type { RelayProcess } from "../support/relay.ts";
import { smtpTalk } from "../support/smtp-talk.ts";

let world: ProcessWorld | undefined;
let relay: RelayProcess | undefined;
// close() kills the relays the world started, then stops its sink and DNS server.
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const SECRETS = {
  smtpPassword: "correct-horse-42",
  wrongPassword: "wrong-horse-77",
  apiKey: "zr_secret_api_key_0123456789abcdef",
  wrongKey: "zr_wrong_api_key_0123456789abcdef",
  smarthostPass: "smarthost-pass-99",
  sessionSecret: "session-secret-0123456789abcdef-0123456789",
  adminPassword: "admin-right-66",
  adminWrong: "admin-wrong-55",
};

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString("base64");

describe("secrets", () => {
  it("are never printed by check-config, returned by /v1/config or written to the log", async () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const pemBody = pem.split("\n")[1]!;
    const users = { ann: { password: await hashPassword(SECRETS.smtpPassword) } };
    const adminUsers = { root: { password: await hashPassword(SECRETS.adminPassword) } };
    world = await startProcessWorld({
      sink: { tls: true, auth: { user: "relay", pass: SECRETS.smarthostPass } },
      relay: (sink) => ({
        log: { level: "trace" },
        users,
        api: { keys: [{ id: "app", hash: hashApiKey(SECRETS.apiKey) }] },
        admin: { users: adminUsers, sessionSecret: SECRETS.sessionSecret },
        dkim: { keys: [{ domain: "sender.test", selector: "s1", privateKey: pem }] },
        zones: {
          default: { host: "127.0.0.1", port: sink.port, auth: { user: "relay", pass: SECRETS.smarthostPass } },
        },
      }),
    });
    const everySecret = [...Object.values(SECRETS), pemBody, plain("ann", SECRETS.smtpPassword)];

    const checked = await promisify(execFile)(
      process.execPath,
      ["scripts/zonerelay.mjs", "check-config", "--config", world.configFile],
      { cwd: join(import.meta.dirname, "../..") },
    );
    for (const secret of everySecret) expect(checked.stdout + checked.stderr, "check-config").not.toContain(secret);
    expect(checked.stdout).toContain("(hidden)");

    relay = await world.spawn({ keepLogs: true });
    const talk = await smtpTalk(world.smtpPort);
    await talk.send("EHLO client.test");
    expect(await talk.send(`AUTH PLAIN ${plain("ann", SECRETS.wrongPassword)}`)).toMatch(/^535 /);
    expect(await talk.send(`AUTH PLAIN ${plain("ann", SECRETS.smtpPassword)}`)).toMatch(/^235 /);
    await talk.send("MAIL FROM:<ann@sender.test>");
    await talk.send("RCPT TO:<bob@a.test>");
    await talk.send("DATA");
    expect(await talk.send("From: ann@sender.test\r\nSubject: s\r\n\r\nhi\r\n.")).toMatch(/^250 /);
    talk.close();

    const api = world.apiUrl;
    expect((await fetch(`${api}/v1/config`, { headers: { authorization: `Bearer ${SECRETS.wrongKey}` } })).status).toBe(
      401,
    );
    const config = await fetch(`${api}/v1/config`, { headers: { authorization: `Bearer ${SECRETS.apiKey}` } });
    expect(config.status).toBe(200);
    const configText = await config.text();
    for (const secret of everySecret) expect(configText, "/v1/config").not.toContain(secret);
    for (const password of [SECRETS.adminWrong, SECRETS.adminPassword]) {
      await fetch(`${api}/admin/login`, { method: "POST", body: new URLSearchParams({ user: "root", password }) });
    }

    const [msg] = await world.sink.waitForMessages(1, 20_000);
    expect(msg!.user).toBe("relay"); // the smarthost password was used, over TLS
    await relay.kill("SIGTERM");
    const log = relay.output();
    expect(log).toContain("message accepted"); // the log was captured
    expect(log).toContain("smtp auth failed");
    for (const secret of everySecret) expect(log, "relay log").not.toContain(secret);
  });
});
