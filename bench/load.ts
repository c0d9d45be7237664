// bench/load: the traffic generator of the relay benchmark (bench/relay-throughput.sh DRIVER=load). Raw sockets,
// PIPELINING when offered, prebuilt bodies: it shares two cores with the relays it measures, so it does as little
// as it can per message. Measures each message's accept latency — the final dot written to the final reply — and
// prints ONE line:
//   load msgs=… accepted=… accepted_rcpts=… errors=… intake_s=… intake_rate=… p50_ms=… p99_ms=… max_ms=…
//   conc=… kb=… rcpts=… domains=… per_conn=… tls=… t0_ms=… t1_ms=…
// (intake_rate = accepted messages/s; errors = messages not accepted, whatever the reason; t0_ms/t1_ms = wall clock
// of the first connect and the last reply, so a caller can time end to end against the sink's clock.) Exits 1 when
// no message was accepted at all.
//
//   node --import tsx bench/load.ts --to 127.0.0.1:2527 [--messages 1000 | --duration 30] [--concurrency 20]
//     [--kb 4] [--rcpts 1] [--domains 1] [--per-conn 1] [--tls] [--max-messages 1000000] [--timeout 120]
// Recipients are spread over d1..dN.bench.test (--domains N); --tls sends STARTTLS (the certificate is not checked).
// Bounded: a message count, or a duration capped by --max-messages; every reply under --timeout seconds.
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { connect as tlsConnect } from "node:tls";
import { parseArgs } from "node:util";
import { LatencyHistogram } from "./lib/latency.ts";
import { type Reply, ReplyReader } from "./lib/smtp-lines.ts";

const { values: opt } = parseArgs({
  options: {
    to: { type: "string", default: "127.0.0.1:2527" },
    messages: { type: "string" },
    duration: { type: "string" },
    "max-messages": { type: "string", default: "1000000" },
    concurrency: { type: "string", default: "20" },
    kb: { type: "string", default: "4" },
    rcpts: { type: "string", default: "1" },
    domains: { type: "string", default: "1" },
    "per-conn": { type: "string", default: "1" },
    tls: { type: "boolean", default: false },
    from: { type: "string", default: "bench@sender.test" },
    timeout: { type: "string", default: "120" },
  },
});
const int = (name: keyof typeof opt, v = opt[name]) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer (got ${v})`);
  return n;
};
const [HOST = "", PORT_TEXT = ""] = (opt.to ?? "").split(/:(?=\d+$)/);
if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(HOST))
  throw new Error(`--to must be a loopback host:port (got ${opt.to})`);
const PORT = int("to", PORT_TEXT);
const MAX = opt.messages ? int("messages") : int("max-messages");
const DURATION_MS = opt.duration ? int("duration") * 1000 : Number.POSITIVE_INFINITY;
if (!opt.messages && !opt.duration) throw new Error("give --messages N or --duration S");
const CONC = int("concurrency");
const KB = int("kb");
const RCPTS = int("rcpts");
const DOMAINS = int("domains");
const PER_CONN = int("per-conn");
const TIMEOUT_MS = int("timeout") * 1000;

// 76 characters + CRLF per line, like base64; no line starts with a dot, so nothing needs stuffing.
const LINE = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789ab\r\n";
const BODY = Buffer.from(LINE.repeat(Math.max(1, Math.round((KB * 1024) / LINE.length))));
const END = Buffer.from(".\r\n");
const DATE = new Date().toUTCString().replace("GMT", "+0000");

function recipients(i: number): string[] {
  return Array.from({ length: RCPTS }, (_, j) => `r${j}-${i}@d${((i * RCPTS + j) % DOMAINS) + 1}.bench.test`);
}

const latency = new LatencyHistogram();
const stats = { claimed: 0, accepted: 0, acceptedRcpts: 0, errors: 0, firstError: "" };
const t0 = performance.now();
const t0Ms = Date.now();
let lastReply = t0;

function claim(): number | undefined {
  if (stats.claimed >= MAX || performance.now() - t0 >= DURATION_MS) return undefined;
  return stats.claimed++;
}

function failed(why: string) {
  stats.errors++;
  if (!stats.firstError) stats.firstError = why.replace(/\s+/g, " ").slice(0, 200);
}

/** One SMTP connection: greeting, EHLO, optional STARTTLS, then transactions. */
class Session {
  private reader = new ReplyReader();
  private pipelining = false;
  private constructor(private socket: Socket) {
    this.attach(socket);
  }

  static async open(): Promise<Session> {
    const socket = connect({ host: HOST, port: PORT, noDelay: true });
    const s = new Session(socket);
    await s.expect(s.reply(), 220, "greeting");
    await s.ehlo();
    if (opt.tls) {
      await s.expect(s.command("STARTTLS"), 220, "STARTTLS");
      socket.removeAllListeners("data");
      const secure = tlsConnect({ socket, rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => {
        secure.once("secureConnect", resolve);
        secure.once("error", reject);
      });
      s.socket = secure;
      s.reader = new ReplyReader();
      s.attach(secure);
      await s.ehlo();
    }
    return s;
  }

  /** Sends message i; resolves with the recipients accepted (0 = refused, already counted as an error). */
  async send(i: number): Promise<number> {
    const rcpts = recipients(i);
    const envelope = [`MAIL FROM:<${opt.from}>`, ...rcpts.map((r) => `RCPT TO:<${r}>`), "DATA"];
    let replies: Reply[];
    if (this.pipelining) {
      this.socket.write(`${envelope.join("\r\n")}\r\n`);
      replies = [];
      for (let k = 0; k < envelope.length; k++) replies.push(await this.reply());
    } else {
      replies = [];
      for (const line of envelope) {
        const r = await this.command(line);
        replies.push(r);
        if (r.code >= 400 && line.startsWith("MAIL")) break;
      }
    }
    const data = replies.at(-1);
    const accepted = replies.slice(1, 1 + rcpts.length).filter((r) => r.code >= 200 && r.code < 300).length;
    if (data?.code !== 354) {
      failed(`${envelope[replies.length - 1]}: ${data?.text}`);
      await this.command("RSET");
      return 0;
    }
    const head =
      `From: <${opt.from}>\r\nTo: <${rcpts[0]}>\r\nSubject: bench ${i}\r\nDate: ${DATE}\r\n` +
      `Message-ID: <${i}.${t0Ms}.${process.pid}@load.bench.test>\r\nMIME-Version: 1.0\r\n\r\n`;
    this.socket.cork();
    this.socket.write(head);
    this.socket.write(BODY);
    this.socket.write(END);
    this.socket.uncork();
    const start = performance.now();
    const final = await this.reply();
    const now = performance.now();
    lastReply = now;
    if (final.code < 200 || final.code >= 300) {
      failed(`end of DATA: ${final.text}`);
      return 0;
    }
    latency.record(now - start);
    return accepted;
  }

  quit() {
    this.socket.end("QUIT\r\n");
  }

  destroy() {
    this.socket.destroy();
  }

  private attach(socket: Socket) {
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => this.reader.feed(chunk));
    socket.on("error", (err) => this.reader.fail(err));
    socket.on("close", () => this.reader.fail(new Error("connection closed")));
  }

  private async ehlo() {
    const r = await this.expect(this.command("EHLO load.bench.test"), 250, "EHLO");
    this.pipelining = /^250[- ]PIPELINING\b/im.test(r.text);
  }

  private command(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  private reply(): Promise<Reply> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.reader.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          this.socket.destroy();
          reject(new Error(`no reply within ${TIMEOUT_MS / 1000} s`));
        }, TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  private async expect(pending: Promise<Reply>, code: number, what: string): Promise<Reply> {
    const r = await pending;
    if (r.code !== code) throw new Error(`${what}: ${r.text}`);
    return r;
  }
}

async function worker() {
  for (let first = claim(); first !== undefined; first = claim()) {
    let session: Session | undefined;
    let current = first;
    try {
      session = await Session.open();
      for (let sent = 1; ; sent++) {
        const rcpts = await session.send(current);
        if (rcpts > 0) {
          stats.accepted++;
          stats.acceptedRcpts += rcpts;
        }
        const next = sent < PER_CONN ? claim() : undefined;
        if (next === undefined) break;
        current = next;
      }
      session.quit();
    } catch (err) {
      failed((err as Error).message);
      session?.destroy();
    }
  }
}

await Promise.all(Array.from({ length: CONC }, worker));
const intakeS = (lastReply - t0) / 1000;
const f = (n: number, d = 2) => n.toFixed(d);
console.log(
  `load msgs=${stats.claimed} accepted=${stats.accepted} accepted_rcpts=${stats.acceptedRcpts} errors=${stats.errors} ` +
    `intake_s=${f(intakeS)} intake_rate=${f(intakeS > 0 ? stats.accepted / intakeS : 0, 0)} ` +
    `p50_ms=${f(latency.percentile(50))} p99_ms=${f(latency.percentile(99))} max_ms=${f(latency.max)} ` +
    `conc=${CONC} kb=${KB} rcpts=${RCPTS} domains=${DOMAINS} per_conn=${PER_CONN} tls=${opt.tls ? 1 : 0} ` +
    `t0_ms=${t0Ms} t1_ms=${Math.round(t0Ms + (lastReply - t0))}`,
);
if (stats.firstError) console.error(`load: first error: ${stats.firstError}`);
// Nothing accepted is not a measurement (relay down, wrong port): fail, so a caller does not report rates.
if (stats.claimed > 0 && stats.accepted === 0) process.exitCode = 1;
