// bench/big-message: does a 1 GB message go through like a 1 kB one? Starts the relay as a child process (embedded
// mode: fs spool, SQLite queue, DKIM body hash at intake), streams one message of SIZE MB through its SMTP intake
// to a counting sink (a static route, no DNS), and reads the relay's peak RSS (VmHWM). A report, not a test.
// Prints one line:
//   big-message mb=1024 intake_s=… e2e_s=… intake_mb_s=… e2e_mb_s=… relay_peak_rss_mb=… relay_start_rss_mb=…
//   delivered_bytes=…
// (On the 2-core dev machine: 1 GB in ~7 s end to end, peak RSS ~165 MB — the same as for 64 MB.)
// Usage: npx tsx bench/big-message.ts [SIZE_MB=1024]   (needs ~SIZE MB free in the temp directory)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { freePort, spawnRelay, testConfig, writeConfigFile } from "../test/support/relay.ts";
import { startSink } from "../test/support/smtp-sink.ts";

const SIZE_MB = Number(process.argv[2] ?? 1024);
const TOTAL = SIZE_MB * 1024 * 1024;
// 76 characters + CRLF, like base64 attachment lines.
const LINE = Buffer.from(`${"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789ab"}\r\n`);
const CHUNK = Buffer.concat(Array.from({ length: 840 }, () => LINE)); // ~64 KiB

function message(): Readable {
  const head = Buffer.from(
    "From: bench@sender.bench\r\nTo: sink@sink.bench\r\nSubject: big\r\nMIME-Version: 1.0\r\n" +
      "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
  );
  let sent = 0;
  return new Readable({
    read() {
      if (sent === 0) {
        sent += head.length;
        this.push(head);
        return;
      }
      if (sent >= TOTAL) return void this.push(null);
      const piece = CHUNK.subarray(0, Math.min(CHUNK.length, TOTAL - sent));
      sent += piece.length;
      this.push(piece);
    },
  });
}

async function send(port: number): Promise<void> {
  const client = new SMTPConnection({ host: "127.0.0.1", port, ignoreTLS: true, socketTimeout: 600_000 });
  await new Promise<void>((resolve, reject) => {
    client.once("error", reject);
    client.connect(() => resolve());
  });
  await new Promise<void>((resolve, reject) =>
    client.send({ from: "bench@sender.bench", to: ["sink@sink.bench"] }, message(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  client.quit();
}

const dir = mkdtempSync(join(tmpdir(), "zr-big-"));
const sink = await startSink({ discardBody: true });
const smtpPort = await freePort();
const apiPort = await freePort();
const config = testConfig(
  dir,
  {
    log: { level: "warn" },
    smtpInterfaces: { feeder: { maxSize: `${SIZE_MB + 64}MB` } },
    routes: { "sink.bench": { host: "127.0.0.1", port: sink.port } },
    queue: { retrySchedule: ["1s"], pollInterval: "100ms" },
  },
  { smtp: smtpPort, api: apiPort },
);
const relay = await spawnRelay(writeConfigFile(dir, config), smtpPort);
try {
  const startRssMb = relay.peakRssKb() / 1024; // the relay before any mail, for comparison
  const started = performance.now();
  await send(smtpPort);
  const intakeS = (performance.now() - started) / 1000;
  const [msg] = await sink.waitForMessages(1, 30 * 60_000);
  const e2eS = (performance.now() - started) / 1000;
  const rssMb = relay.peakRssKb() / 1024;
  console.log(
    `big-message mb=${SIZE_MB} intake_s=${intakeS.toFixed(1)} e2e_s=${e2eS.toFixed(1)} ` +
      `intake_mb_s=${(SIZE_MB / intakeS).toFixed(1)} e2e_mb_s=${(SIZE_MB / e2eS).toFixed(1)} ` +
      `relay_peak_rss_mb=${rssMb.toFixed(0)} relay_start_rss_mb=${startRssMb.toFixed(0)} delivered_bytes=${msg!.size}`,
  );
} finally {
  await relay.kill("SIGTERM");
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
}
