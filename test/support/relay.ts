// Starts a real ZoneRelay for a test: in-process (fast, inspectable) or as a child process (for kill -9 tests),
// with its own spool, queue and kernel-chosen or free ports, pointed at the test DNS server and sink.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { type RelayHandle, startRelay } from "../../relay/main.ts";
import { parseConfig } from "../../shared/config/load.ts";
import type { ConfigInput } from "../../shared/config/schema.ts";
import type { MessageStatus } from "../../shared/domain/envelope.ts";

export interface TestRelay extends RelayHandle {
  dir: string;
  smtpPort: number;
  apiUrl: string;
  status(id: string): Promise<MessageStatus & { deliveries: { state: string }[] }>;
  waitForStates(id: string, states: string[], timeoutMs?: number): Promise<MessageStatus>;
  cleanup(): Promise<void>;
}

/** Deep-merges test overrides into the base test config. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && b && typeof b === "object" && !Array.isArray(b)
        ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export function testConfig(dir: string, over: ConfigInput = {}, ports = { smtp: 0, api: 0 }): ConfigInput {
  return deepMerge(
    {
      hostname: "relay.zonerelay.test",
      log: { level: process.env.TEST_LOG_LEVEL ?? "silent" },
      smtpInterfaces: { feeder: { host: "127.0.0.1", port: ports.smtp } },
      api: { host: "127.0.0.1", port: ports.api },
      queue: {
        spoolDir: join(dir, "spool"),
        dbPath: join(dir, "queue.sqlite"),
        retrySchedule: ["1s"],
        pollInterval: "200ms",
      },
    },
    over as Record<string, unknown>,
  ) as ConfigInput;
}

async function pollStates(apiUrl: string, id: string, states: string[], timeoutMs: number): Promise<MessageStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: MessageStatus | undefined;
  while (Date.now() < deadline) {
    const res = await fetch(`${apiUrl}/v1/messages/${id}`).catch(() => undefined);
    if (res?.ok) {
      last = (await res.json()) as MessageStatus;
      const now = last.deliveries.map((d) => d.state).sort();
      if (JSON.stringify(now) === JSON.stringify([...states].sort())) return last;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`message ${id} did not reach states ${states.join(",")}; last: ${JSON.stringify(last?.deliveries)}`);
}

/** `logs`: receives the relay's log lines (JSON) at info level and above, for tests that check what it reports. */
export async function startTestRelay(
  over: ConfigInput = {},
  opts: { logs?: (line: string) => void } = {},
): Promise<TestRelay> {
  const dir = mkdtempSync(join(tmpdir(), "zr-relay-"));
  const config = parseConfig(testConfig(dir, over));
  const logger = opts.logs
    ? pino({ level: "info" }, { write: (line: string) => opts.logs!(line) })
    : pino({ level: config.log.level });
  const relay = await startRelay(config, { logger });
  const apiUrl = `http://127.0.0.1:${relay.apiPort}`;
  return {
    ...relay,
    dir,
    smtpPort: relay.smtpPorts.feeder!,
    apiUrl,
    async status(id) {
      const res = await fetch(`${apiUrl}/v1/messages/${id}`);
      if (!res.ok) throw new Error(`status ${id}: HTTP ${res.status}`);
      return (await res.json()) as MessageStatus;
    },
    waitForStates: (id, states, timeoutMs = 20_000) => pollStates(apiUrl, id, states, timeoutMs),
    async cleanup() {
      await relay.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The relay as a separate OS process (`zonerelay start`), so a test can SIGKILL it and start it again. */
export interface RelayProcess {
  child: ChildProcess;
  pid: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Peak resident set size in KiB (VmHWM) of the process so far. */
  peakRssKb(): number;
  /** Everything the process wrote to stdout (its JSON log lines) and stderr, with `keepLogs`. */
  output(): string;
}

export async function spawnRelay(
  configFile: string,
  smtpPort: number,
  opts: { keepLogs?: boolean; apiPort?: number } = {},
): Promise<RelayProcess> {
  const child = spawn(process.execPath, ["scripts/zonerelay.mjs", "start", "--config", configFile], {
    cwd: join(import.meta.dirname, "../.."),
    stdio: ["ignore", opts.keepLogs ? "pipe" : "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c) => {
    stderr += c;
  });
  let stdout = "";
  child.stdout?.on("data", (c) => {
    stdout += c;
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode}: ${stderr}`);
    // SMTP listens first and the HTTP API a moment later: ready means both (a loaded machine widens the gap).
    const ports = opts.apiPort ? [smtpPort, opts.apiPort] : [smtpPort];
    const ok = (await Promise.all(ports.map(listening))).every(Boolean);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`relay did not listen on ${ports.join(" and ")}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    pid: child.pid!,
    kill: (signal = "SIGKILL") =>
      new Promise((resolve) => {
        // Already gone (an exit code, or killed by a signal): nothing to wait for.
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill(signal);
      }),
    output: () => stdout + stderr,
    peakRssKb() {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    },
  };
}

export function writeConfigFile(dir: string, config: ConfigInput): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "zonerelay.json");
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
