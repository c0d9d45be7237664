// Postfix from Debian as an independent receiving MX (started by scripts/services.sh): what a newcomer does with
// swaks — and what the README promises — must arrive in a real mail server's mailbox.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POSTFIX, waitForPostfixMail } from "../support/postfix.ts";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

const run = promisify(execFile);
let world: World;

beforeAll(async () => {
  // The sink stays as MX of the other test domains; postfix.test's MX is Postfix on its test port.
  world = await startWorld({
    relay: {
      routes: {
        [POSTFIX.domain]: { host: POSTFIX.host, port: POSTFIX.port },
        // Postfix is not an MX for this one and says so.
        "not-postfix.test": { host: POSTFIX.host, port: POSTFIX.port },
      },
    },
  });
});
afterAll(async () => {
  await world?.close();
});

describe("delivery to Postfix", () => {
  it("delivers over STARTTLS into Postfix's mailbox, with our Received header on top of Postfix's", async () => {
    const tag = randomBytes(6).toString("hex");
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: [`alice@${POSTFIX.domain}`] },
      rfc822({ From: "app@sender.test", To: `alice@${POSTFIX.domain}`, Subject: `to postfix ${tag}` }),
    );
    const status = await world.relay.waitForStates(id, ["delivered"]);
    const attempt = status.deliveries[0]!.history[0]!;
    expect(attempt.tls).toBe(true);
    expect(attempt.response).toMatch(/^250 2\.0\.0 Ok: queued as/);
    const raw = await waitForPostfixMail((m) => m.includes(tag));
    expect(raw).toMatch(/Received: from out[12]\.zonerelay\.test \(.*\[127\.0\.0\.[23]\]\)/);
    expect(raw).toMatch(/by relay\.zonerelay\.test \(ZoneRelay\)/);
  });

  it("accepts a message from swaks and delivers it, as the README shows", async () => {
    const tag = randomBytes(6).toString("hex");
    const { stdout } = await run("swaks", [
      "--server",
      `127.0.0.1:${world.relay.smtpPort}`,
      "--from",
      "app@sender.test",
      "--to",
      `bob@${POSTFIX.domain}`,
      "--header",
      `Subject: swaks ${tag}`,
    ]);
    expect(stdout).toMatch(/<[-~] {2}250 2\.0\.0 Ok: queued as \S+/);
    const raw = await waitForPostfixMail((m) => m.includes(tag));
    expect(raw).toContain(`Subject: swaks ${tag}`);
  });

  it("bounces what Postfix refuses to relay, with Postfix's own reason", async () => {
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "", to: ["carol@not-postfix.test"] },
      rfc822({ From: "app@sender.test", To: "carol@not-postfix.test", Subject: "refused" }),
    );
    const status = await world.relay.waitForStates(id, ["bounced"]);
    const attempt = status.deliveries[0]!.history[0]!;
    expect(attempt.response).toMatch(/^554 5\.7\.1 .*Relay access denied/);
    expect(attempt.category).toBe("relay-denied");
  });
});
