// The SMTP intake as a client sees it, reply by reply: never an open relay, AUTH against hashed passwords, size
// and recipient limits, loop detection — and nothing is queued for what was refused.
import { afterEach, describe, expect, it } from "vitest";
import { hashPassword } from "../../shared/auth/password.ts";
import { type SmtpTalk, smtpTalk } from "../support/smtp-talk.ts";
import { startWorld, type World } from "../support/world.ts";

let world: World | undefined;
let talk: SmtpTalk | undefined;
afterEach(async () => {
  talk?.close();
  talk = undefined;
  await world?.close();
  world = undefined;
});

/** The forms relay testers (and spammers) try: each would hand the message to a third party if we took it. */
const RELAY_TEST_FORMS = [
  "victim%b.test@a.test", // percent hack
  "victim%b.test",
  "b.test!victim@a.test", // bang path
  "b.test!victim",
  '"victim@b.test"@a.test', // quoted local part with @
  '"victim%b.test"',
  "victim@b.test@a.test",
  "victim@[127.0.0.1]", // address literals
  "victim@[192.0.2.1]",
  "victim@[IPv6:::1]",
  "victim@127.0.0.1", // an IP dressed as a domain
  "victim@localhost",
  "postmaster", // no domain at all
];

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString("base64");

async function closedRelay(): Promise<World> {
  return startWorld({
    relay: {
      smtpInterfaces: { feeder: { allowedNetworks: [] } },
      users: { ann: { password: await hashPassword("correct horse") } },
    },
  });
}

describe("SMTP intake", () => {
  it("advertises the extensions a sender relies on", async () => {
    world = await startWorld();
    talk = await smtpTalk(world.relay.smtpPort);
    expect(talk.greeting).toMatch(/^220 /);
    const ehlo = await talk.send("EHLO client.test");
    for (const ext of ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 26214400"]) {
      expect(ehlo).toContain(ext);
    }
  });

  it("refuses to relay for a client that is neither authenticated nor allow-listed, and queues nothing", async () => {
    world = await closedRelay();
    talk = await smtpTalk(world.relay.smtpPort);
    await talk.send("EHLO client.test");
    expect(await talk.send("MAIL FROM:<spammer@evil.test>")).toMatch(/^530 5\.7\.0 /);
    expect(await talk.send("RCPT TO:<victim@a.test>")).toMatch(/^5\d\d /);
    expect(await talk.send("DATA")).toMatch(/^503 /);
    talk.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(world.sink.messages).toHaveLength(0);
  });

  it("relays for an authenticated user and refuses a wrong password with 535", async () => {
    world = await closedRelay();
    talk = await smtpTalk(world.relay.smtpPort);
    expect(await talk.send("EHLO client.test")).toMatch(/AUTH .*PLAIN/);
    expect(await talk.send(`AUTH PLAIN ${plain("ann", "wrong")}`)).toMatch(/^535 5\.7\.8 /);
    expect(await talk.send(`AUTH PLAIN ${plain("ann", "correct horse")}`)).toMatch(/^235 /);
    expect(await talk.send("MAIL FROM:<ann@sender.test>")).toMatch(/^250 /);
    expect(await talk.send("RCPT TO:<bob@a.test>")).toMatch(/^250 /);
    expect(await talk.send("DATA")).toMatch(/^354 /);
    const queued = await talk.send("From: ann@sender.test\r\nTo: bob@a.test\r\nSubject: hi\r\n\r\nhello\r\n.");
    expect(queued).toMatch(/^250 2\.0\.0 Ok: queued as \S+/);
    const [msg] = await world.sink.waitForMessages(1);
    expect(msg!.to).toEqual(["bob@a.test"]);
    expect(msg!.raw.toString()).toMatch(/with ESMTPA id/);
  });

  it("refuses an oversized SIZE= at MAIL FROM with 552, before any data", async () => {
    world = await startWorld({ relay: { smtpInterfaces: { feeder: { maxSize: "1MB" } } } });
    talk = await smtpTalk(world.relay.smtpPort);
    await talk.send("EHLO client.test");
    expect(await talk.send(`MAIL FROM:<a@sender.test> SIZE=${2 * 1024 * 1024}`)).toMatch(/^552 /);
  });

  it("refuses a body larger than the limit with 552 even without SIZE=, and queues nothing", async () => {
    world = await startWorld({ relay: { smtpInterfaces: { feeder: { maxSize: "64KB" } } } });
    talk = await smtpTalk(world.relay.smtpPort);
    await talk.send("EHLO client.test");
    await talk.send("MAIL FROM:<a@sender.test>");
    await talk.send("RCPT TO:<b@a.test>");
    expect(await talk.send("DATA")).toMatch(/^354 /);
    talk.write(`Subject: big\r\n\r\n${"x".repeat(76)}\r\n`.repeat(1500));
    expect(await talk.send(".")).toMatch(/^552 5\.3\.4 /);
    // The session stays usable.
    expect(await talk.send("RSET")).toMatch(/^250 /);
    await new Promise((r) => setTimeout(r, 500));
    expect(world.sink.messages).toHaveLength(0);
  });

  it("limits recipients per transaction with 452", async () => {
    world = await startWorld({ relay: { smtpInterfaces: { feeder: { maxRecipients: 2 } } } });
    talk = await smtpTalk(world.relay.smtpPort);
    await talk.send("EHLO client.test");
    await talk.send("MAIL FROM:<a@sender.test>");
    expect(await talk.send("RCPT TO:<one@a.test>")).toMatch(/^250 /);
    expect(await talk.send("RCPT TO:<two@a.test>")).toMatch(/^250 /);
    expect(await talk.send("RCPT TO:<three@a.test>")).toMatch(/^452 4\.5\.3 /);
  });

  it("refuses a message that already passed 35 Received headers as a loop (554 5.4.6)", async () => {
    world = await startWorld();
    talk = await smtpTalk(world.relay.smtpPort);
    await talk.send("EHLO client.test");
    await talk.send("MAIL FROM:<a@sender.test>");
    await talk.send("RCPT TO:<b@a.test>");
    await talk.send("DATA");
    const hops = "Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n".repeat(36);
    expect(await talk.send(`${hops}Subject: loop\r\n\r\nbody\r\n.`)).toMatch(/^554 5\.4\.6 /);
  });

  it("refuses every classic relay-test address form, even from an allow-listed client, and sends nothing", async () => {
    world = await startWorld();
    talk = await smtpTalk(world.relay.smtpPort);
    await talk.send("EHLO client.test");
    for (const form of RELAY_TEST_FORMS) {
      expect(await talk.send(`MAIL FROM:<${form}>`), `MAIL FROM:<${form}>`).toMatch(/^5\d\d /);
    }
    expect(await talk.send("MAIL FROM:<a@sender.test>")).toMatch(/^250 /);
    for (const form of RELAY_TEST_FORMS) {
      expect(await talk.send(`RCPT TO:<${form}>`), `RCPT TO:<${form}>`).toMatch(/^5\d\d /);
    }
    expect(await talk.send("DATA")).toMatch(/^503 /); // no recipient was accepted
    // A source route is ignored as RFC 5321 Appendix C allows: only the final address is used (and checked).
    expect(await talk.send("RCPT TO:<@hop.test:victim@a.test>")).toMatch(/^250 /);
    expect(await talk.send("RCPT TO:<@a.test:victim%b.test@a.test>")).toMatch(/^5\d\d /);
    talk.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(world.sink.messages).toHaveLength(0);
  });

  it("refuses every relay-test form to a client that is neither authenticated nor allow-listed", async () => {
    world = await closedRelay();
    talk = await smtpTalk(world.relay.smtpPort);
    await talk.send("EHLO client.test");
    expect(await talk.send("MAIL FROM:<a@sender.test>")).toMatch(/^530 5\.7\.0 /);
    for (const form of ["bob@a.test", ...RELAY_TEST_FORMS]) {
      expect(await talk.send(`RCPT TO:<${form}>`), form).toMatch(/^5\d\d /);
    }
  });
});
