// Two relay processes, each with its own embedded queue, sharing one Redis coordinator: a destination's connection
// budget and a zone's rate hold across both, as they would across twenty.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type DnsServer, startDnsServer } from "../support/dns-server.ts";
import { REDIS_URL, uniquePrefix } from "../support/redis.ts";
import { freePort, type RelayProcess, spawnRelay, writeConfigFile } from "../support/relay.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";
import { POOL, rfc822, sendSmtp } from "../support/world.ts";

let dns: DnsServer | undefined;
let sink: Sink | undefined;
let relays: RelayProcess[] = [];
let dir: string | undefined;
afterEach(async () => {
  for (const r of relays) await r.kill("SIGKILL");
  relays = [];
  await sink?.close();
  await dns?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("budgets shared through Redis", () => {
  it("never lets two hosts together exceed a destination's connection budget", async () => {
    dns = await startDnsServer();
    dns.set("mx.sink.test", { A: ["127.0.0.1"] });
    dns.set("a.test", { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
    sink = await startSink({ dataDelayMs: 100, discardBody: true });
    dir = mkdtempSync(join(tmpdir(), "zr-budget-"));
    const prefix = uniquePrefix();
    const ports: number[] = [];
    for (const [i, name] of ["h1", "h2"].entries()) {
      const smtpPort = await freePort();
      ports.push(smtpPort);
      const file = writeConfigFile(join(dir, name), {
        log: { level: "warn" },
        smtpInterfaces: { feeder: { host: "127.0.0.1", port: smtpPort } },
        api: { host: "127.0.0.1", port: await freePort() },
        queue: {
          spoolDir: join(dir, name, "spool"),
          dbPath: join(dir, name, "queue.sqlite"),
          retrySchedule: ["1s"],
          pollInterval: "200ms",
        },
        dbs: { redis: REDIS_URL, redisPrefix: prefix },
        dns: { nameservers: [dns.nameserver] },
        pools: { default: [POOL[i]!] },
        zones: { default: { port: sink.port, connections: 5 } },
        domainConfig: { default: { maxConnections: 2 } },
      });
      relays.push(await spawnRelay(file, smtpPort));
    }
    // 30 messages of one recipient each (recipients of one message share one transaction, hence one connection).
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        sendSmtp(ports[i % 2]!, { from: "app@sender.test", to: [`u${i}@a.test`] }, rfc822({ Subject: `h${i % 2}` })),
      ),
    );
    await sink.waitForMessages(30, 60_000);
    // Each host alone would open up to 5 connections; the destination allows 2 across the cluster.
    expect(sink.peakConnections).toBeLessThanOrEqual(2);
    expect(new Set(sink.messages.map((m) => m.remoteAddress))).toEqual(new Set(["127.0.0.2", "127.0.0.3"]));
  }, 90_000);
});
