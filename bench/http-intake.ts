// bench/http-intake: is the HTTP API's JSON submission (POST /v1/messages) as fast as SMTP intake? Starts the relay
// as a child process (embedded mode: fs spool, SQLite queue, durable before 250/202, DKIM-signing every message
// with a 2048-bit RSA key made at start, an API key required), its zone delivering to Postfix's smtp-sink
// (../shared/bench/sink.sh on 127.0.0.2:SINK_PORT), and submits the same N messages (KB of text, RCPTS recipients)
// over SMTP and as JSON, each from PAR keep-alive connections, in REPS interleaved repetitions (order alternating)
// after one unrecorded warm-up of each (N messages). Prints one line (medians of REPS):
//   http-intake n=… kb=… rcpts=… par=… smtp_rate=… http_rate=… http_to_smtp=… smtp_p50_ms=… smtp_p99_ms=…
//   http_p50_ms=… http_p99_ms=… cpu_ms_per_msg_smtp=… cpu_ms_per_msg_http=…
// rate = messages/s from the first request to the last final reply (250 after DATA / 202); latency = one
// message's request to its final reply; CPU = the relay process's (all threads, /proc/<pid>/stat) from the start
// of a run until the sink has counted its messages, per message — so it includes delivery, which is the same for
// both. Every run waits until the sink has every accepted message (else it fails: nothing may be lost), so the next
// run starts on an empty queue. A refused submission fails the bench. Each run also goes to stderr, with this
// process's own CPU per message (driver_cpu_ms_per_msg: the clients compete with the relay for the two cores).
// The SMTP message is what the API composes from the JSON (nodemailer's MailComposer, same fields and text), so both
// paths store the same bytes but for Message-ID and Date.
// BATCH=n (default 1) posts n messages per request to POST /v1/messages/batch instead (latency = the request's).
// Usage: N=2000 KB=4 RCPTS=1 PAR=20 REPS=3 SINK_PORT=2646 npx tsx bench/http-intake.ts
// Profiling: ONLY=http (or smtp) runs one path; PROFILE_DIR=dir writes the relay's CPU profile there (--cpu-prof).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import MailComposer from "nodemailer/lib/mail-composer";
import { freePort } from "../test/support/relay.ts";

const N = Number(process.env.N ?? 2000);
const KB = Number(process.env.KB ?? 4);
const RCPTS = Number(process.env.RCPTS ?? 1);
const PAR = Number(process.env.PAR ?? 20);
const BATCH = Number(process.env.BATCH ?? 1);
const REPS = Number(process.env.REPS ?? 3);
const SINK_ADDR = "127.0.0.2";
const SINK_PORT = Number(process.env.SINK_PORT ?? 2646);
const HELPERS = process.env.BENCH_HELPERS ?? join(import.meta.dirname, "../../shared/bench");
const REPLY_TIMEOUT_MS = 60_000;
const DRAIN_TIMEOUT_MS = 300_000;
const KINDS = (process.env.ONLY ? [process.env.ONLY] : ["smtp", "http"]) as ("smtp" | "http")[];

const dir = mkdtempSync(join(tmpdir(), "zr-http-intake-"));
// The sink's pid and counter live here, not in the default /tmp/relay-bench other benchmarks share.
const sinkEnv = { ...process.env, BENCH_STATE: join(dir, "sink") };

// ---- the messages: one text of KB kilobytes (lines of 74 characters + CRLF, so the composer keeps it 7bit; none
// starts with a dot), the subject numbers them
const LINE = "The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrst\r\n"; // 74 + CRLF
const TEXT = LINE.repeat(Math.max(1, Math.round((KB * 1024) / LINE.length)));
const FROM = "bench@sender.test";
const TO = Array.from({ length: RCPTS }, (_, i) => `rcpt${i + 1}@sink.test`);
const subject = (i: number) => `bench ${String(i).padStart(8, "0")}`;

/** JSON body of message i: the shared text escaped once, the subject spliced in. */
const jsonHead = Buffer.from(`{"from":${JSON.stringify(FROM)},"to":${JSON.stringify(TO)},"subject":"`);
const jsonTail = Buffer.from(`","text":${JSON.stringify(TEXT)}}`);
const jsonBody = (i: number) => Buffer.concat([jsonHead, Buffer.from(subject(i)), jsonTail]);

/** SMTP DATA of message i: MailComposer's output for the same request (its text needs no dot-stuffing). */
const smtpTemplate = await new Promise<string>((resolve, reject) =>
  new MailComposer({
    from: FROM,
    to: TO,
    subject: subject(0),
    text: TEXT,
    messageId: "<MSGID@bench.test>",
    date: new Date(0),
  })
    .compile()
    .build((err, raw) => (err ? reject(err) : resolve(raw.toString()))),
);
const headEnd = smtpTemplate.indexOf("\r\n\r\n") + 4;
const smtpHeadTemplate = smtpTemplate.slice(0, headEnd);
const smtpText = smtpTemplate.slice(headEnd);
const smtpTextBuf = Buffer.from(`${smtpText}${smtpText.endsWith("\r\n") ? "" : "\r\n"}.\r\n`);
function smtpData(i: number, tag: string): Buffer {
  const head = smtpHeadTemplate
    .replace(subject(0), subject(i))
    .replace("MSGID", `${tag}.${i}`)
    .replace(/^Date: .*$/m, `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`);
  return Buffer.concat([Buffer.from(head), smtpTextBuf]);
}

// ---- SMTP client: one connection, EHLO once, then MAIL/RCPT/DATA pipelined (RFC 2920), the body, the final reply
class SmtpClient {
  private buffer = "";
  private waiting: { count: number; replies: string[]; resolve: (r: string[]) => void } | undefined;
  private failure: Error | undefined;
  private constructor(private readonly socket: Socket) {
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => this.onData(chunk));
    const fail = (err: Error) => {
      this.failure = err;
      this.waiting?.resolve([`000 ${err.message}`]);
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("connection closed")));
    socket.setTimeout(REPLY_TIMEOUT_MS, () => socket.destroy(new Error("SMTP reply timeout")));
  }

  static async open(port: number): Promise<SmtpClient> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const client = new SmtpClient(socket);
    client.expect(await client.replies(1), "220");
    socket.write("EHLO bench.test\r\n");
    client.expect(await client.replies(1), "250");
    return client;
  }

  /** Sends one message; resolves once the final reply to DATA is in. */
  async send(data: Buffer): Promise<void> {
    this.socket.write(`MAIL FROM:<${FROM}>\r\n${TO.map((t) => `RCPT TO:<${t}>\r\n`).join("")}DATA\r\n`);
    const pre = await this.replies(TO.length + 2);
    this.expect(pre.slice(0, -1), "250");
    this.expect(pre.slice(-1), "354");
    this.socket.write(data);
    this.expect(await this.replies(1), "250");
  }

  quit(): void {
    this.socket.end("QUIT\r\n");
  }

  private expect(replies: string[], code: string) {
    const bad = replies.find((r) => !r.startsWith(code));
    if (bad !== undefined) throw new Error(`SMTP: expected ${code}, got ${bad.trim()}`);
  }

  private replies(count: number): Promise<string[]> {
    if (this.failure) return Promise.resolve([`000 ${this.failure.message}`]);
    return new Promise((resolve) => {
      this.waiting = { count, replies: [], resolve };
      this.onData("");
    });
  }

  private onData(chunk: string) {
    this.buffer += chunk;
    for (;;) {
      const w = this.waiting;
      const end = this.buffer.indexOf("\r\n");
      if (!w || end < 0) return;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      if (line[3] === "-") continue; // a multi-line reply ends with "NNN " (RFC 5321 §4.2.1)
      w.replies.push(line);
      if (w.replies.length === w.count) {
        this.waiting = undefined;
        w.resolve(w.replies);
      }
    }
  }
}

// ---- the relay, the sink
const sinkCount = () =>
  Number(execFileSync(join(HELPERS, "sink.sh"), ["count", SINK_ADDR, String(SINK_PORT)], { env: sinkEnv }));
const smtpPort = await freePort();
const apiPort = await freePort();
const apiKey = `zr_bench_${randomBytes(16).toString("hex")}`;
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
writeFileSync(join(dir, "dkim.pem"), privateKey.export({ type: "pkcs8", format: "pem" }));
// The same relay settings as bench/relay-throughput.sh, plus an API key (a deployment's API has one).
writeFileSync(
  join(dir, "zonerelay.yaml"),
  `hostname: bench.zonerelay.test
log: { level: warn }
smtpInterfaces: { feeder: { host: 127.0.0.1, port: ${smtpPort}, maxClients: 1000 } }
api: { host: 127.0.0.1, port: ${apiPort}, keys: [{ id: bench, hash: "sha256:${createHash("sha256").update(apiKey).digest("hex")}" }] }
queue: { spoolDir: ${join(dir, "spool")}, dbPath: ${join(dir, "queue.sqlite")} }
zones: { default: { host: ${SINK_ADDR}, port: ${SINK_PORT}, connections: 50 } }
domainConfig: { default: { maxConnections: 50 } }
dkim: { keys: [{ domain: sender.test, selector: bench, privateKeyFile: ${join(dir, "dkim.pem")} }] }
`,
);
const hz = Number(execFileSync("getconf", ["CLK_TCK"]).toString());
let relay: ChildProcess | undefined;
let relayLog = "";

/** `zonerelay start` as its own process (node flags like --cpu-prof are not allowed in NODE_OPTIONS). */
async function startRelayProcess(configFile: string): Promise<ChildProcess> {
  const profile = process.env.PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, "scripts/zonerelay.mjs", "start", "--config", configFile], {
    cwd: join(import.meta.dirname, ".."),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c) => {
    stderr += c;
  });
  // Its log (level warn) is kept, the last lines shown when the bench fails.
  child.stdout!.on("data", (c: Buffer) => {
    relayLog = (relayLog + c.toString()).slice(-4000);
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode}: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) =>
      connect(smtpPort, "127.0.0.1")
        .once("connect", function (this: Socket) {
          this.destroy();
          resolve(true);
        })
        .once("error", () => resolve(false)),
    );
    if (ok) return child;
    if (Date.now() > deadline) throw new Error(`relay did not listen on ${smtpPort}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopRelay(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}
const agent = new Agent({ keepAlive: true, maxSockets: PAR });

function relayCpuTicks(): number {
  const stat = readFileSync(`/proc/${relay!.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15 of proc(5))
}

/** POST /v1/messages, or with BATCH > 1 messages first…first+count-1 to /v1/messages/batch. */
function postMessages(first: number, count: number): Promise<void> {
  if (BATCH === 1) return postJson("/v1/messages", jsonBody(first), () => true);
  const items = Array.from({ length: count }, (_, k) => jsonBody(first + k));
  const body = Buffer.concat([
    Buffer.from("["),
    ...items.flatMap((b, k) => (k ? [Buffer.from(","), b] : [b])),
    Buffer.from("]"),
  ]);
  return postJson("/v1/messages/batch", body, (reply) => {
    const { results } = JSON.parse(reply) as { results: { status: number }[] };
    return results.length === count && results.every((r) => r.status === 202);
  });
}

function postJson(path: string, body: Buffer, ok: (reply: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: "127.0.0.1",
        port: apiPort,
        method: "POST",
        path,
        headers: {
          authorization: `Bearer ${apiKey}`,
          "content-type": "application/json",
          "content-length": body.length,
        },
        timeout: REPLY_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          res.statusCode === (BATCH === 1 ? 202 : 200) && ok(Buffer.concat(chunks).toString())
            ? resolve()
            : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 300)}`)),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("HTTP reply timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

interface RunResult {
  rate: number;
  p50: number;
  p99: number;
  cpuMsPerMsg: number;
  /** This process's CPU (the client side) while sending: on two cores it competes with the relay (stderr only). */
  driverCpuMsPerMsg: number;
}

let delivered = 0; // what the sink must have counted after the last run
async function run(kind: "smtp" | "http", n: number, tag: string): Promise<RunResult> {
  const latencies = new Float64Array(n);
  const clients =
    kind === "smtp" ? await Promise.all(Array.from({ length: PAR }, () => SmtpClient.open(smtpPort))) : [];
  const cpu0 = relayCpuTicks();
  const driver0 = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: PAR }, async (_, w) => {
      const step = kind === "smtp" ? 1 : BATCH;
      for (let i = next, count = Math.min(step, n - i); i < n; i = next, count = Math.min(step, n - i)) {
        next += count;
        const t0 = performance.now();
        if (kind === "smtp") await clients[w]!.send(smtpData(i, tag));
        else await postMessages(i, count);
        latencies.fill(performance.now() - t0, i, i + count);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const driver = process.cpuUsage(driver0);
  for (const c of clients) c.quit();
  delivered += n;
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  for (let count = sinkCount(); count < delivered; count = sinkCount()) {
    if (Date.now() > deadline) throw new Error(`lost: the sink has ${count} of ${delivered} accepted messages`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const cpuMs = ((relayCpuTicks() - cpu0) * 1000) / hz;
  latencies.sort();
  return {
    rate: n / seconds,
    p50: latencies[Math.floor(n * 0.5)]!,
    p99: latencies[Math.min(n - 1, Math.floor(n * 0.99))]!,
    cpuMsPerMsg: cpuMs / n,
    driverCpuMsPerMsg: (driver.user + driver.system) / 1000 / n,
  };
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

try {
  execFileSync(join(HELPERS, "sink.sh"), ["start", SINK_ADDR, String(SINK_PORT)], { env: sinkEnv });
  relay = await startRelayProcess(join(dir, "zonerelay.yaml"));
  const warm = N; // a fresh relay costs more for its first few thousand messages (JIT, SQLite and spool growing)
  for (const kind of KINDS) await run(kind, warm, "warm");
  const results: Record<"smtp" | "http", RunResult[]> = { smtp: [], http: [] };
  for (let rep = 1; rep <= REPS; rep++) {
    const order = rep % 2 ? KINDS : [...KINDS].reverse();
    for (const kind of order) {
      const r = await run(kind, N, `r${rep}`);
      results[kind].push(r);
      console.error(
        `rep=${rep} ${kind} rate=${r.rate.toFixed(0)} p50_ms=${r.p50.toFixed(1)} p99_ms=${r.p99.toFixed(1)} ` +
          `cpu_ms_per_msg=${r.cpuMsPerMsg.toFixed(2)} driver_cpu_ms_per_msg=${r.driverCpuMsPerMsg.toFixed(2)}`,
      );
    }
  }
  const m = (kind: "smtp" | "http", key: keyof RunResult) => median(results[kind].map((r) => r[key]));
  console.log(
    `http-intake n=${N} kb=${KB} rcpts=${RCPTS} par=${PAR} batch=${BATCH} smtp_rate=${m("smtp", "rate").toFixed(0)} ` +
      `http_rate=${m("http", "rate").toFixed(0)} http_to_smtp=${(m("http", "rate") / m("smtp", "rate")).toFixed(2)} ` +
      `smtp_p50_ms=${m("smtp", "p50").toFixed(1)} smtp_p99_ms=${m("smtp", "p99").toFixed(1)} ` +
      `http_p50_ms=${m("http", "p50").toFixed(1)} http_p99_ms=${m("http", "p99").toFixed(1)} ` +
      `cpu_ms_per_msg_smtp=${m("smtp", "cpuMsPerMsg").toFixed(2)} cpu_ms_per_msg_http=${m("http", "cpuMsPerMsg").toFixed(2)}`,
  );
} catch (err) {
  process.exitCode = 1;
  console.error(`${(err as Error).stack}\nrelay log (tail):\n${relayLog}`);
} finally {
  agent.destroy();
  if (relay) await stopRelay(relay);
  execFileSync(join(HELPERS, "sink.sh"), ["stop", SINK_ADDR, String(SINK_PORT)], { env: sinkEnv });
  rmSync(dir, { recursive: true, force: true });
  // Written back now, the thousands of inodes just freed slow file creation on this file system for ~5 s instead
  // of up to 305 s, for whatever runs next (docs/performance.md, "A trap on this machine").
  execFileSync("sync");
}
