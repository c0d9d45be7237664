// Two relay hosts (separate OS processes) on one MongoDB queue + GridFS and one Redis coordinator: every message is
// delivered exactly once, a destination's connection budget holds across both hosts, and a host killed mid-delivery
// has its work delivered by the other once its leases expire.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { type DnsServer, startDnsServer } from "../support/dns-server.ts";
import { MONGO_URL } from "../support/mongo.ts";
import { REDIS_URL } from "../support/redis.ts";
import { freePort, type RelayProcess, spawnRelay, writeConfigFile } from "../support/relay.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";
import { POOL, rfc822, sendSmtp } from "../support/world.ts";

interface Host {
  smtpPort: number;
  configFile: string;
  process?: RelayProcess;
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
  cleanup = [];
});

async function cluster(sinkDelayMs: number, leaseTime = "30s") {
  const dbName = `zr_cluster_${randomBytes(4).toString("hex")}`;
  const mongoUrl = new URL(MONGO_URL);
  mongoUrl.pathname = `/${dbName}`;
  const dns: DnsServer = await startDnsServer();
  dns.set("mx.sink.test", { A: ["127.0.0.1"] });
  dns.set("a.test", { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
  dns.set("sender.test", { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
  const sink: Sink = await startSink({ dataDelayMs: sinkDelayMs, discardBody: true });
  const dir = mkdtempSync(join(tmpdir(), "zr-cluster-"));
  cleanup.push(async () => {
    await sink.close();
    await dns.close();
    const client = new MongoClient(MONGO_URL);
    await client.db(dbName).dropDatabase();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hosts: Host[] = [];
  for (const [i, name] of ["host1", "host2"].entries()) {
    const smtpPort = await freePort();
    const configFile = writeConfigFile(join(dir, name), {
      hostname: `${name}.zonerelay.test`,
      log: { level: "warn" },
      smtpInterfaces: { feeder: { host: "127.0.0.1", port: smtpPort } },
      api: { host: "127.0.0.1", port: await freePort() },
      queue: { backend: "mongo", retrySchedule: ["1s"], pollInterval: "200ms", leaseTime },
      dbs: { mongo: mongoUrl.toString(), redis: REDIS_URL, redisPrefix: `zr-test-${dbName}:` },
      dns: { nameservers: [dns.nameserver], timeout: "2s" },
      pools: { default: [POOL[i]!] }, // host1 sends from 127.0.0.2, host2 from 127.0.0.3
      zones: { default: { port: sink.port, connections: 4 } },
      domainConfig: { "a.test": { maxConnections: 2 } },
    });
    hosts.push({ smtpPort, configFile });
  }
  for (const host of hosts) {
    host.process = await spawnRelay(host.configFile, host.smtpPort);
    cleanup.push(async () => host.process?.kill("SIGKILL"));
  }
  return { sink, hosts };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("two relay hosts on MongoDB + Redis", () => {
  it("delivers each message exactly once and holds a destination's connection budget across both hosts", async () => {
    const { sink, hosts } = await cluster(150);
    const recipients = Array.from({ length: 40 }, (_, i) => `user${i}@a.test`);
    // Half the messages enter through each host; either may deliver any of them.
    await Promise.all(
      recipients.map((to, i) =>
        sendSmtp(hosts[i % 2]!.smtpPort, { from: "app@sender.test", to: [to] }, rfc822({ Subject: `n${i}` })),
      ),
    );
    await waitFor(() => sink.messages.length >= recipients.length, "40 deliveries");
    await new Promise((r) => setTimeout(r, 1_000)); // a duplicate would arrive now
    const delivered = sink.messages.flatMap((m) => m.to);
    expect(delivered.sort()).toEqual([...recipients].sort());
    // Each host alone would open up to 4 connections (zone) — a.test allows 2 across the cluster.
    expect(sink.peakConnections).toBeLessThanOrEqual(2);
    // Both hosts delivered: the budget was shared, not held by one host for good.
    expect(new Set(sink.messages.map((m) => m.remoteAddress))).toEqual(new Set(["127.0.0.2", "127.0.0.3"]));
  }, 120_000);

  it("delivers a killed host's in-flight work from the other host after its leases expire", async () => {
    const { sink, hosts } = await cluster(400, "3s");
    const recipients = Array.from({ length: 12 }, (_, i) => `k${i}@a.test`);
    for (const [i, to] of recipients.entries()) {
      await sendSmtp(hosts[0]!.smtpPort, { from: "app@sender.test", to: [to] }, rfc822({ Subject: `k${i}` }));
    }
    // Kill host1 while deliveries are in flight (the sink takes 400 ms per message).
    await waitFor(() => sink.messages.length >= 1, "the first delivery");
    await hosts[0]!.process!.kill("SIGKILL");
    await waitFor(
      () => new Set(sink.messages.flatMap((m) => m.to)).size === recipients.length,
      "every recipient delivered by host2",
    );
    expect([...new Set(sink.messages.flatMap((m) => m.to))].sort()).toEqual([...recipients].sort());
    expect(sink.messages.some((m) => m.remoteAddress === "127.0.0.3")).toBe(true);
  }, 120_000);
});
