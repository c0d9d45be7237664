// bench/sink: the "smart" counting sink of the relay benchmark (bench/relay-throughput.sh SINK=smart), built on
// smtp-server. Unlike Postfix's smtp-sink it offers STARTTLS (a self-signed certificate made at start), refuses a
// configurable share of recipients or transactions with realistic replies, and counts per client address. Bodies
// are counted and dropped as they stream (constant memory). It exits by itself after SINK_TTL_S.
//
//   node --import tsx bench/sink.ts                 serve; prints one "sink up …" line once both ports listen
//   node --import tsx bench/sink.ts count           prints the counters of a running sink (GET /count)
//
// Environment (defaults): SINK_ADDR=127.0.0.2 SINK_PORT=2636 SINK_HTTP_PORT=2637 (the counters, same address)
//   SINK_TLS=0 (1 = offer STARTTLS)  SINK_CERT_OUT=<path> (also write the certificate there, for a relay to trust)
//   REJECT_4XX=0 REJECT_5XX=0 (shares, e.g. 0.05 and 0.01)  REJECT_AT=rcpt|data  SINK_SEED=1  SINK_TTL_S=7200
// HTTP (loopback): GET /count → one line `sess= tls= msgs= rcpts= bytes= dsn= plain= rej4= rej5= settled= by_addr=`;
//   GET /wait?settled=N&timeout_s=S → the same line plus `at_ms=` (when `settled` reached N) once it has;
//   408 with the line on timeout. See bench/lib/sink-policy.ts for what each counter means.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SMTPServer, type SMTPServerSession } from "smtp-server";
import { createRejecter, type RejectStage, SinkCounts, seededRandom } from "./lib/sink-policy.ts";

const env = process.env;
const ADDR = env.SINK_ADDR ?? "127.0.0.2";
const PORT = Number(env.SINK_PORT ?? 2636);
const HTTP_PORT = Number(env.SINK_HTTP_PORT ?? PORT + 1);
const MAX_WAIT_S = 3600;

function loopbackOnly(addr: string) {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(addr)) throw new Error(`loopback (127.x.x.x) addresses only: ${addr}`);
}

/** EC P-256 (cheap handshakes), valid for the sink's address and name, two days. */
function selfSignedCert(addr: string): { key: Buffer; cert: Buffer; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "bench-sink-"));
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"],
      ...["-subj", "/CN=sink.bench.test", "-addext", `subjectAltName=IP:${addr},DNS:sink.bench.test`],
      ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")), dir };
}

/** smtp-server holds every greeting 100 ms (its early-talker check); smtp-sink does not, and neither may we: a
 * relay that opens many connections would be measured against that pause. Same swap as greetAtOnce in
 * relay/intake/smtp-intake.ts (smtp-server 3.21's init without the timer; the version is pinned by the lock file). */
function greetAtOnce(server: SMTPServer) {
  type Conn = { init(): void; _setListeners(ready: () => void): void; connectionReady(): void };
  const connections = (server as unknown as { connections: Set<Conn> }).connections;
  const add = connections.add;
  connections.add = function (this: Set<Conn>, connection: Conn) {
    connection.init = () => connection._setListeners(() => connection.connectionReady());
    return add.call(this, connection);
  };
}

const isNullSender = (session: SMTPServerSession) => {
  const from = session.envelope.mailFrom;
  return !from || from.address === "";
};
const refusal = (r: { code: number; text: string }) => Object.assign(new Error(r.text), { responseCode: r.code });

async function serve() {
  loopbackOnly(ADDR);
  const tls = env.SINK_TLS === "1";
  const at = (env.REJECT_AT ?? "rcpt") as RejectStage;
  if (at !== "rcpt" && at !== "data") throw new Error(`REJECT_AT must be rcpt or data, got ${at}`);
  const reject = createRejecter(
    { temp: Number(env.REJECT_4XX ?? 0), perm: Number(env.REJECT_5XX ?? 0), at },
    seededRandom(Number(env.SINK_SEED ?? 1)),
  );
  const counts = new SinkCounts();
  const cert = tls ? selfSignedCert(ADDR) : undefined;
  if (cert && env.SINK_CERT_OUT) copyFileSync(join(cert.dir, "cert.pem"), env.SINK_CERT_OUT);

  const smtp = new SMTPServer({
    name: "sink.bench.test",
    logger: false,
    authOptional: true,
    disabledCommands: ["AUTH"],
    disableReverseLookup: true,
    hideSTARTTLS: !tls,
    maxClients: 2000,
    ...(cert ? { key: cert.key, cert: cert.cert } : {}),
    onConnect(_session, callback) {
      counts.sessions++;
      callback();
    },
    onSecure(_socket, _session, callback) {
      counts.tls++;
      callback();
    },
    onRcptTo(_address, session, callback) {
      const r = reject("rcpt", isNullSender(session));
      if (r) counts.refused(r, 1);
      callback(r ? refusal(r) : null);
    },
    onData(stream, session, callback) {
      let bytes = 0;
      stream.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      stream.on("end", () => {
        const nullSender = isNullSender(session);
        const rcpts = session.envelope.rcptTo.length;
        const r = reject("data", nullSender);
        if (r) {
          counts.refused(r, rcpts);
          callback(refusal(r));
          return;
        }
        counts.accepted(session.remoteAddress.replace(/^::ffff:/, ""), rcpts, bytes, nullSender, session.secure);
        callback(null, "2.0.0 Ok: discarded");
      });
    },
  });
  greetAtOnce(smtp);
  smtp.on("error", (err) => console.error(`sink: ${err.message}`));

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://sink");
    const reply = (status: number, extra = "") => {
      res.writeHead(status, { "content-type": "text/plain" }).end(`${counts.line()}${extra}\n`);
    };
    if (url.pathname === "/count") return reply(200);
    if (url.pathname !== "/wait") return reply(404);
    const min = Number(url.searchParams.get("settled"));
    const timeoutS = Math.min(MAX_WAIT_S, Number(url.searchParams.get("timeout_s") ?? 900));
    if (!Number.isFinite(min) || !(timeoutS > 0)) return reply(400);
    const wait = counts.waitSettled(min);
    const timer = setTimeout(() => {
      wait.cancel();
      reply(408);
    }, timeoutS * 1000);
    wait.at.then((atMs) => {
      clearTimeout(timer);
      reply(200, ` at_ms=${atMs}`);
    });
    res.on("close", () => {
      clearTimeout(timer);
      if (!res.writableEnded) wait.cancel();
    });
  });

  const stop = (why: string) => {
    console.log(`sink stop (${why}) ${counts.line()}`);
    http.close();
    smtp.close(() => {});
    if (cert) rmSync(cert.dir, { recursive: true, force: true });
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  setTimeout(() => stop("ttl"), Number(env.SINK_TTL_S ?? 7200) * 1000).unref();

  await new Promise<void>((resolve, reject_) => {
    smtp.server.once("error", reject_);
    smtp.listen(PORT, ADDR, () => resolve());
  });
  await new Promise<void>((resolve, reject_) => {
    http.once("error", reject_);
    http.listen(HTTP_PORT, ADDR, () => resolve());
  });
  const rej = `reject_4xx=${env.REJECT_4XX ?? 0} reject_5xx=${env.REJECT_5XX ?? 0} reject_at=${at}`;
  console.log(`sink up smtp=${ADDR}:${PORT} http=${ADDR}:${HTTP_PORT} tls=${tls ? 1 : 0} ${rej} pid=${process.pid}`);
}

if (process.argv[2] === "count") {
  loopbackOnly(ADDR);
  const res = await fetch(`http://${ADDR}:${HTTP_PORT}/count`);
  process.stdout.write(await res.text());
} else {
  await serve();
}
