// Liveness and live reconfiguration: a zone that stops making progress is reported with its reason (ZoneMTA #347),
// and SIGHUP applies new zone settings to a running process without losing queued work.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../shared/config/schema.ts";
import { startDnsServer } from "../support/dns-server.ts";
import { freePort, type RelayProcess, spawnRelay, startTestRelay, writeConfigFile } from "../support/relay.ts";
import { startSink } from "../support/smtp-sink.ts";
import { rfc822, sendSmtp } from "../support/world.ts";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe("zone watchdog", () => {
  it("reports a zone whose every connection hangs while other work is due, and it recovers once the cause goes", async () => {
    // A tarpit: accepts TCP and never says a word.
    const sockets = new Set<Socket>();
    const tarpit = createServer((s) => {
      sockets.add(s);
      s.on("error", () => {});
    });
    await new Promise<void>((r) => tarpit.listen(0, "127.0.0.1", r));
    const tarpitPort = (tarpit.address() as { port: number }).port;
    const dns = await startDnsServer();
    dns.set("a.test", { A: ["127.0.0.1"] });
    const sink = await startSink();
    const lines: string[] = [];
    const relay = await startTestRelay(
      {
        dns: { nameservers: [dns.nameserver] },
        queue: { watchdog: "1s" },
        routes: { "tarpit.test": { host: "127.0.0.1", port: tarpitPort } },
        zones: { default: { connections: 1, port: sink.port, timeouts: { greeting: "60s" } } },
      },
      { logs: (line) => lines.push(line) },
    );
    cleanups.push(
      () => relay.cleanup(),
      () => sink.close(),
      () => dns.close(),
      () => new Promise((r) => tarpit.close(r)),
    );
    await sendSmtp(relay.smtpPort, { from: "app@sender.test", to: ["x@tarpit.test"] }, rfc822({ Subject: "stuck" }));
    await new Promise((r) => setTimeout(r, 300));
    const waiting = await sendSmtp(
      relay.smtpPort,
      { from: "app@sender.test", to: ["y@a.test"] },
      rfc822({ Subject: "due" }),
    );

    const deadline = Date.now() + 10_000;
    while (!lines.some((l) => l.includes("zone stalled")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const report = JSON.parse(lines.find((l) => l.includes("zone stalled"))!) as Record<string, unknown>;
    expect(report.msg).toMatch(/every connection is busy/);
    expect(report).toMatchObject({ zone: "default", lanes: 1, inFlight: 1 });

    // The cause goes away (the tarpit hangs up): the zone moves on by itself.
    for (const s of sockets) s.destroy();
    await relay.waitForStates(waiting, ["delivered"], 15_000);
  }, 40_000);
});

describe("SIGHUP", () => {
  it("applies a changed pool to the running process and keeps the queued work", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-hup-"));
    const dns = await startDnsServer();
    dns.set("a.test", { A: ["127.0.0.1"] });
    let accept = false;
    const sink = await startSink({ rcptReply: () => (accept ? undefined : { code: 451, message: "4.3.2 Not yet" }) });
    const smtpPort = await freePort();
    const config = (address: string): ConfigInput => ({
      log: { level: "warn" },
      smtpInterfaces: { feeder: { host: "127.0.0.1", port: smtpPort } },
      api: { host: "127.0.0.1", port: 0 },
      queue: {
        spoolDir: join(dir, "spool"),
        dbPath: join(dir, "q.sqlite"),
        retrySchedule: ["1s"],
        pollInterval: "200ms",
      },
      dns: { nameservers: [dns.nameserver] },
      pools: { default: [{ address, name: `from-${address}` }] },
      zones: { default: { port: sink.port } },
    });
    const file = writeConfigFile(dir, config("127.0.0.2"));
    const relay: RelayProcess = await spawnRelay(file, smtpPort);
    cleanups.push(
      () => relay.kill("SIGKILL"),
      () => sink.close(),
      () => dns.close(),
      () => rmSync(dir, { recursive: true, force: true }),
    );
    await sendSmtp(smtpPort, { from: "app@sender.test", to: ["queued@a.test"] }, rfc822({ Subject: "before" }));
    await new Promise((r) => setTimeout(r, 500)); // attempted from 127.0.0.2 and deferred

    writeConfigFile(dir, config("127.0.0.3"));
    relay.child.kill("SIGHUP");
    await new Promise((r) => setTimeout(r, 1_000));
    accept = true;
    await sendSmtp(smtpPort, { from: "app@sender.test", to: ["after@a.test"] }, rfc822({ Subject: "after" }));
    const messages = await sink.waitForMessages(2, 15_000);
    expect(messages.map((m) => m.to[0]).sort()).toEqual(["after@a.test", "queued@a.test"]);
    expect(messages.every((m) => m.remoteAddress === "127.0.0.3" && m.clientHostname === "from-127.0.0.3")).toBe(true);
    expect(relay.child.exitCode).toBeNull();
  }, 40_000);
});
