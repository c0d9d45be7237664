// bench/soak: does the relay stay flat under steady load, and lose nothing? Starts the relay as a child process
// (embedded mode), feeds it RATE messages per second for SECONDS (80 % SMTP over a few reused connections, 20 %
// HTTP JSON) to a counting sink behind a static route, and samples every 5 s: the relay's RSS (/proc), V8 heap
// after a forced full GC (through its inspector) and event-loop delay (its own /metrics) and the queue depth
// (/v1/queue/counts). Then it waits for the queue to
// drain and checks that every accepted message reached the sink. A report, not a test.
// Samples go to stderr; one result line to stdout:
//   soak seconds=60 rate=50 accepted=… delivered=… lost=0 refused=… rss_mb=first→last heap_mb=first→last
//   eventloop_p99_ms_max=… queue_depth_max=… flat=yes verdict=pass
// "flat": RSS and heap of the last third of the run within max(16 MB, 20 %) of the first third (after warm-up).
// Usage: npx tsx bench/soak.ts [SECONDS=60] [RATE=50]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { freePort, spawnRelay, testConfig, writeConfigFile } from "../test/support/relay.ts";
import { startSink } from "../test/support/smtp-sink.ts";

const SECONDS = Number(process.argv[2] ?? 60);
const RATE = Number(process.argv[3] ?? 50);
const SAMPLE_MS = 5000;
const HTTP_SHARE = 0.2;
const MAX_IN_FLIGHT = RATE * 2; // beyond this the relay is not keeping up: the send is counted as refused

const dir = mkdtempSync(join(tmpdir(), "zr-soak-"));
const sink = await startSink({ discardBody: true });
const smtpPort = await freePort();
const apiPort = await freePort();
const config = testConfig(
  dir,
  {
    log: { level: "warn" },
    metrics: { public: true },
    routes: { "sink.bench": { host: "127.0.0.1", port: sink.port } },
    zones: { default: { connections: 4 } },
    queue: { retrySchedule: ["1s"], pollInterval: "100ms" },
  },
  { smtp: smtpPort, api: apiPort },
);
// The relay runs with the inspector on loopback, so each sample can force a full GC first: V8 lets the heap grow
// lazily for minutes, and only the heap after a collection says whether anything is kept.
const nodeOptions = process.env.NODE_OPTIONS;
process.env.NODE_OPTIONS = `${nodeOptions ?? ""} --inspect=127.0.0.1:0`;
const relay = await spawnRelay(writeConfigFile(dir, config), smtpPort);
if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
else process.env.NODE_OPTIONS = nodeOptions;
const inspector = await connectInspector(/Debugger listening on (ws:\/\/\S+)/.exec(relay.output())?.[1]);
const api = `http://127.0.0.1:${apiPort}`;

/** A minimal Chrome DevTools Protocol client over the relay's inspector WebSocket. */
async function connectInspector(url: string | undefined) {
  if (!url) throw new Error(`the relay did not start its inspector: ${relay.output()}`);
  // Node 22 has WebSocket built in; Node 20 only behind a flag, so undici's (a dependency of mailauth) stands in.
  const WS: typeof WebSocket =
    globalThis.WebSocket ?? ((await import("undici")).WebSocket as unknown as typeof WebSocket);
  const ws = new WS(url);
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", reject, { once: true });
  });
  let id = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  ws.addEventListener("message", (event) => {
    const msg = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg.result);
  });
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      waiting.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    async heapAfterGcMb(): Promise<number> {
      await call("HeapProfiler.collectGarbage");
      const r = (await call("Runtime.evaluate", {
        expression: "process.memoryUsage().heapUsed",
        returnByValue: true,
      })) as { result: { value: number } };
      return r.result.value / 1024 / 1024;
    },
    close: () => ws.close(),
  };
}

interface Sample {
  t: number;
  rssMb: number;
  heapMb: number;
  loopP99Ms: number;
  depth: number;
  accepted: number;
  delivered: number;
}

function rssMb(): number {
  const status = readFileSync(`/proc/${relay.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function metric(text: string, name: string): Promise<number> {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

async function depth(): Promise<number> {
  const body = (await (await fetch(`${api}/v1/queue/counts`)).json()) as {
    zones: { queued: number; deferred: number }[];
  };
  return body.zones.reduce((n, z) => n + z.queued + z.deferred, 0);
}

const smtp = nodemailer.createTransport({
  host: "127.0.0.1",
  port: smtpPort,
  ignoreTLS: true,
  pool: true,
  maxConnections: 4,
  maxMessages: Number.POSITIVE_INFINITY,
});
const accepted = new Set<string>();
let refused = 0;
let inFlight = 0;
let seq = 0;

function sendOne(): void {
  if (inFlight >= MAX_IN_FLIGHT) {
    refused++;
    return;
  }
  const token = `m${seq++}`;
  const to = `${token}@sink.bench`;
  const text = `soak message ${token}\r\n${"lorem ipsum dolor sit amet ".repeat(40)}\r\n`;
  inFlight++;
  const sent =
    Math.random() < HTTP_SHARE
      ? fetch(`${api}/v1/messages`, {
          method: "POST",
          body: JSON.stringify({ from: "bench@sender.bench", to, subject: token, text }),
        }).then((r) => {
          if (r.status !== 202) throw new Error(`HTTP ${r.status}`);
        })
      : smtp.sendMail({ envelope: { from: "bench@sender.bench", to: [to] }, raw: `Subject: ${token}\r\n\r\n${text}` });
  sent
    .then(
      () => accepted.add(to),
      () => refused++,
    )
    .finally(() => inFlight--);
}

const samples: Sample[] = [];
const started = performance.now();
const delivered = () => new Set(sink.messages.flatMap((m) => m.to)).size;
async function sample() {
  const text = await (await fetch(`${api}/metrics`)).text();
  const s: Sample = {
    t: Math.round((performance.now() - started) / 1000),
    rssMb: rssMb(),
    heapMb: await inspector.heapAfterGcMb(),
    loopP99Ms: (await metric(text, "nodejs_eventloop_lag_p99_seconds")) * 1000,
    depth: await depth(),
    accepted: accepted.size,
    delivered: delivered(),
  };
  samples.push(s);
  console.error(
    `t=${s.t}s rss_mb=${s.rssMb.toFixed(0)} heap_mb=${s.heapMb.toFixed(0)} eventloop_p99_ms=${s.loopP99Ms.toFixed(1)} ` +
      `queue_depth=${s.depth} accepted=${s.accepted} delivered=${s.delivered}`,
  );
}

try {
  const tick = setInterval(sendOne, 1000 / RATE);
  const sampler = setInterval(() => void sample().catch((err) => console.error("sample failed", err)), SAMPLE_MS);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  clearInterval(tick);
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 50));
  // Drain: every accepted message must reach the sink.
  const drainDeadline = Date.now() + 120_000;
  while ([...accepted].some((to) => !sink.messages.some((m) => m.to.includes(to))) && Date.now() < drainDeadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  clearInterval(sampler);
  await sample();

  const got = new Set(sink.messages.flatMap((m) => m.to));
  const lost = [...accepted].filter((to) => !got.has(to)).length;
  // Flatness: after a warm-up (the first 10 s or first sample), the last third against the first third.
  const steady = samples.filter((s) => s.t >= 10 && s.t <= SECONDS);
  const third = Math.max(1, Math.floor(steady.length / 3));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = steady.slice(0, third);
  const last = steady.slice(-third);
  const within = (a: number, b: number, pct: number) => b - a <= Math.max(16, a * pct);
  const rssFirst = mean(first.map((s) => s.rssMb));
  const rssLast = mean(last.map((s) => s.rssMb));
  const heapFirst = mean(first.map((s) => s.heapMb));
  const heapLast = mean(last.map((s) => s.heapMb));
  const flat = steady.length >= 2 && within(rssFirst, rssLast, 0.2) && within(heapFirst, heapLast, 0.2);
  const pass = flat && lost === 0 && accepted.size > 0;
  console.log(
    `soak seconds=${SECONDS} rate=${RATE} accepted=${accepted.size} delivered=${got.size} lost=${lost} ` +
      `refused=${refused} rss_mb=${rssFirst.toFixed(0)}→${rssLast.toFixed(0)} ` +
      `heap_mb=${heapFirst.toFixed(0)}→${heapLast.toFixed(0)} ` +
      `eventloop_p99_ms_max=${Math.max(...samples.map((s) => s.loopP99Ms)).toFixed(1)} ` +
      `queue_depth_max=${Math.max(...samples.map((s) => s.depth))} flat=${flat ? "yes" : "no"} ` +
      `verdict=${pass ? "pass" : "fail"}`,
  );
  process.exitCode = pass ? 0 : 1;
} finally {
  smtp.close();
  inspector.close();
  await relay.kill("SIGTERM");
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
}
