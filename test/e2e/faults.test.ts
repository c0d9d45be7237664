// Faults around the relay: a silent resolver, an MX that tarpits its greeting, talks garbage, drops the
// connection in DATA or never answers the final dot — each defers (never bounces) and delivers once the fault is
// gone; a full disk under the spool or the queue answers 452 4.3.1 / 503, never a permanent 5xx, and nothing is
// half kept.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type BadMx, type BadMxMode, startBadMx } from "../support/bad-mx.ts";
import { startTestRelay, type TestRelay } from "../support/relay.ts";
import { smtpTalk } from "../support/smtp-talk.ts";
import { spoolContents } from "../support/spool.ts";
import { startWorld, type World } from "../support/world.ts";

let world: World | undefined;
let mx: BadMx | undefined;
let relay: TestRelay | undefined;
const mounts: string[] = [];
afterEach(async () => {
  await world?.close();
  world = undefined;
  await mx?.close();
  mx = undefined;
  await relay?.cleanup();
  relay = undefined;
  for (const dir of mounts.splice(0)) execFileSync("umount", [dir]);
});

interface Delivery {
  state: string;
  attempts: number;
  lastResponse?: string;
}

async function submit(w: World, to: string): Promise<string> {
  const res = await fetch(`${w.relay.apiUrl}/v1/messages`, {
    method: "POST",
    body: JSON.stringify({ from: "app@sender.test", to, subject: "fault", text: "hello" }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function waitForDelivery(w: World, id: string, done: (d: Delivery) => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last: Delivery | undefined;
  while (Date.now() < deadline) {
    last = ((await w.relay.status(id)) as unknown as { deliveries: Delivery[] }).deliveries[0];
    if (last && done(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`delivery of ${id} did not get there; last: ${JSON.stringify(last)}`);
}

const FAULTS: [BadMxMode, RegExp][] = [
  ["tarpit-greeting", /greeting|timeout|timed out/i],
  ["garbage-greeting", /greeting|Xyzzy|invalid|unexpected/i],
  ["garbage-reply", /lorem|invalid|unexpected/i],
  ["drop-in-data", /closed|reset|ECONN|socket|unexpected/i],
  ["silent-after-data", /timeout|timed out/i],
];

describe("a misbehaving MX", () => {
  it.each(FAULTS)(
    "%s: the delivery is deferred (and retried, never bounced), then delivered once it behaves",
    async (mode, reply) => {
      mx = await startBadMx(mode);
      const port = mx.port;
      world = await startWorld({
        relay: {
          routes: { "bad.test": { host: "127.0.0.1", port } },
          zones: { default: { timeouts: { greeting: "1s", socket: "2s" } } },
        },
      });
      const id = await submit(world, "x@bad.test");
      const deferred = await waitForDelivery(world, id, (d) => d.attempts >= 2 || d.state !== "queued");
      expect(deferred.state, JSON.stringify(deferred)).toBe("deferred");
      const again = await waitForDelivery(world, id, (d) => d.attempts >= 2 || d.state !== "deferred");
      expect(again.state).toBe("deferred");
      expect(again.lastResponse).toMatch(reply);

      mx.mode = "ok";
      const delivered = await waitForDelivery(world, id, (d) => d.state !== "deferred" && d.state !== "queued");
      expect(delivered.state).toBe("delivered");
      expect(mx.accepted).toBe(1);
    },
  );
});

describe("DNS faults", () => {
  it("defers while the resolver never answers, and delivers once it does", async () => {
    world = await startWorld({ relay: { dns: { timeout: "300ms" } } });
    world.dns.set("silent.test", { silent: true });
    const id = await submit(world, "x@silent.test");
    const deferred = await waitForDelivery(world, id, (d) => d.attempts >= 2);
    expect(deferred.state).toBe("deferred");
    expect(deferred.lastResponse).toMatch(/DNS|ETIMEOUT|timeout/i);
    expect(world.dns.queries.some((q) => q.name === "silent.test")).toBe(true);

    world.dns.set("silent.test", { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
    expect((await waitForDelivery(world, id, (d) => d.state !== "deferred")).state).toBe("delivered");
    expect(world.sink.messages.map((m) => m.to[0])).toEqual(["x@silent.test"]);
  });
});

/** A 1 MiB tmpfs: a disk that really fills up (needs root, as the test services do). */
function tinyDisk(): string {
  const dir = mkdtempSync(join(tmpdir(), "zr-full-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
  } catch (err) {
    throw new Error(`the disk-full tests mount a 1 MiB tmpfs and need root: ${(err as Error).message}`);
  }
  mounts.push(dir);
  return dir;
}

describe("a full disk", () => {
  it("answers 452 4.3.1 (SMTP) and 503 (HTTP) when the spool fills up, and keeps no partial body", async () => {
    const spool = tinyDisk();
    relay = await startTestRelay({ queue: { spoolDir: spool } });
    const talk = await smtpTalk(relay.smtpPort);
    await talk.send("EHLO client.test");
    await talk.send("MAIL FROM:<app@sender.test>");
    await talk.send("RCPT TO:<x@a.test>");
    await talk.send("DATA");
    talk.write(`Subject: big\r\n\r\n${`${"x".repeat(998)}\r\n`.repeat(2048)}`); // 2 MB into 1 MiB
    expect(await talk.send(".")).toMatch(/^452 4\.3\.1 /);
    // While the spool is known full, the next message is refused at once (before its data is read).
    expect(await talk.send("MAIL FROM:<app@sender.test>")).toMatch(/^250 /);
    await talk.send("RCPT TO:<x@a.test>");
    expect(await talk.send("DATA")).toMatch(/^354 /);
    expect(await talk.send("Subject: small\r\n\r\nsmall\r\n.")).toMatch(/^451 4\.3\.0 /);
    talk.close();

    const http = await fetch(`${relay.apiUrl}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({ from: "app@sender.test", to: "x@a.test", text: "small" }),
    });
    expect(http.status).toBe(503);
    expect(http.headers.get("retry-after")).toBe("30");
    expect(spoolContents(spool)).toEqual([]);
  });

  it("answers 452 4.3.1 when the queue database cannot grow, and accepts again once there is room", async () => {
    const disk = tinyDisk();
    const dbDir = join(disk, "db");
    mkdirSync(dbDir);
    relay = await startTestRelay({ queue: { dbPath: join(dbDir, "queue.sqlite") } });
    // Fill what is left of the disk, so the queue's next write has nowhere to go.
    const filler = join(disk, "filler");
    try {
      writeFileSync(filler, Buffer.alloc(1024 * 1024));
    } catch {
      // ENOSPC: the filler took every byte there was
    }
    const send = () =>
      fetch(`${relay!.apiUrl}/v1/messages`, {
        method: "POST",
        body: JSON.stringify({
          from: "app@sender.test",
          to: "x@a.test",
          subject: "queued",
          text: "x".repeat(64 * 1024),
        }),
      });
    const talk = await smtpTalk(relay.smtpPort);
    await talk.send("EHLO client.test");
    await talk.send("MAIL FROM:<app@sender.test>");
    await talk.send("RCPT TO:<x@a.test>");
    await talk.send("DATA");
    expect(await talk.send(`Subject: q\r\n\r\n${"y".repeat(64 * 1024)}\r\n.`)).toMatch(/^452 4\.3\.1 /);
    talk.close();
    expect((await send()).status).toBe(503);

    rmSync(filler);
    // The queue reports itself sick until its next write succeeds (the sender's next poll): soon, not at once.
    const deadline = Date.now() + 5000;
    let status = 0;
    while (status !== 202 && Date.now() < deadline) {
      status = (await send()).status;
      if (status !== 202) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(202);
  });
});
