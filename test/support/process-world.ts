// A world for tests that run the relay as a child process (kill -9, restarts, memory): a DNS server for the test
// domains, an SMTP sink as their MX and a config file with fixed free ports, so a restarted relay is the same relay.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigInput } from "../../shared/config/schema.ts";
import { type DnsServer, startDnsServer } from "./dns-server.ts";
import { deepMerge, freePort, type RelayProcess, spawnRelay, writeConfigFile } from "./relay.ts";
import { type Sink, type SinkOptions, startSink } from "./smtp-sink.ts";
import { spoolContents } from "./spool.ts";
import { POOL, SINK_DOMAINS } from "./world.ts";

export interface ProcessWorld {
  dir: string;
  spoolDir: string;
  dns: DnsServer;
  sink: Sink;
  configFile: string;
  smtpPort: number;
  apiPort: number;
  apiUrl: string;
  /**
   * Starts `zonerelay start` on this world's config; resolves once it listens. `keepLogs` collects its output.
   * close() kills every relay started here that still runs.
   */
  spawn(opts?: { keepLogs?: boolean }): Promise<RelayProcess>;
  /** Every body in the spool: files (`*.eml`, `*.tmp` while written) `log#<id>` (test/support/spool.ts). */
  spoolFiles(): string[];
  close(): Promise<void>;
}

export async function startProcessWorld(
  opts: { sink?: SinkOptions; relay?: ConfigInput | ((sink: Sink) => ConfigInput) } = {},
): Promise<ProcessWorld> {
  const dir = mkdtempSync(join(tmpdir(), "zr-process-"));
  const dns = await startDnsServer();
  dns.set("mx.sink.test", { A: ["127.0.0.1"] });
  for (const domain of SINK_DOMAINS) dns.set(domain, { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
  const sink = await startSink(opts.sink);
  const smtpPort = await freePort();
  const apiPort = await freePort();
  const spoolDir = join(dir, "spool");
  const over = typeof opts.relay === "function" ? opts.relay(sink) : (opts.relay ?? {});
  const configFile = writeConfigFile(
    dir,
    deepMerge(
      {
        hostname: "relay.zonerelay.test",
        log: { level: "warn" },
        smtpInterfaces: { feeder: { host: "127.0.0.1", port: smtpPort, maxSize: "200MB" } },
        api: { host: "127.0.0.1", port: apiPort },
        queue: { spoolDir, dbPath: join(dir, "queue.sqlite"), retrySchedule: ["1s"], pollInterval: "200ms" },
        dns: { nameservers: [dns.nameserver], timeout: "2s" },
        pools: { default: POOL },
        zones: { default: { port: sink.port, connections: 2 } },
      },
      over as Record<string, unknown>,
    ) as ConfigInput,
  );
  const spawned: RelayProcess[] = [];
  return {
    dir,
    spoolDir,
    dns,
    sink,
    configFile,
    smtpPort,
    apiPort,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    async spawn(spawnOpts = {}) {
      const relay = await spawnRelay(configFile, smtpPort, { ...spawnOpts, apiPort });
      spawned.push(relay);
      return relay;
    },
    spoolFiles: () => spoolContents(spoolDir),
    async close() {
      // Relays still running (a failed test never got to stop them) go first: they use the sink and the DNS.
      await Promise.all(spawned.map((relay) => relay.kill("SIGKILL")));
      await sink.close();
      await dns.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Polls `check` every 100 ms until it holds, for as long as `progress` (a count that only grows, such as messages
 * at the sink) keeps moving: fails naming `what` once it stood still for `stallMs`, or after `maxMs` in all. Tells
 * "lost" (nothing moves) from "slow" (a loaded machine draining a long queue), where a fixed deadline cannot.
 */
export async function waitWhileProgressing(
  check: () => boolean,
  progress: () => number,
  what: string,
  { stallMs, maxMs }: { stallMs: number; maxMs: number },
) {
  const started = Date.now();
  let last = progress();
  let movedAt = started;
  while (!check()) {
    const now = Date.now();
    const current = progress();
    if (current !== last) {
      last = current;
      movedAt = now;
    }
    if (now - movedAt > stallMs) throw new Error(`no progress for ${stallMs / 1000} s waiting for ${what}`);
    if (now - started > maxMs) throw new Error(`timed out after ${maxMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
