// Sending TLS-RPT reports (RFC 8460 §3, §5): the `_smtp._tls.<domain>` TXT record names where (`rua=` mailto: or
// https:), the report goes gzipped by mail through the normal submit pipeline or by HTTPS POST; a daily timer sends
// yesterday's, once per cluster (a coordinator lock and a "sent" flag), and the API can send any day's at will.
import { randomBytes } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { request } from "node:https";
import type { LookupFunction } from "node:net";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import type { Logger } from "pino";
import type { Config } from "../../shared/config/schema.ts";
import type { Submit } from "../../shared/intake/submit-types.ts";
import type { Clock } from "../../shared/ports/clock.ts";
import type { Coordinator } from "../../shared/ports/coordinator.ts";
import { lookupVia } from "./policy.ts";
import { buildReports, type TlsReport, utcDay } from "./tls-rpt.ts";

export interface ReportOutcome {
  domain: string;
  /** The `rua` destinations the domain publishes (none = no report wanted). */
  rua: string[];
  sent: string[];
  errors: string[];
  report: TlsReport;
}

export interface TlsReportRunner {
  /** Builds the day's reports; with `send`, delivers them to every `rua` the configuration allows. */
  run(day: string, opts: { send: boolean }): Promise<ReportOutcome[]>;
  /** Starts the daily timer (yesterday's reports at `tls.reports.at` UTC); returns a stop function. */
  schedule(): () => void;
}

export interface TlsReportDeps {
  config: Readonly<Config>;
  coordinator: Coordinator;
  submit: Submit;
  clock: Clock;
  logger: Logger;
  /** Trusted CAs for HTTPS uploads (system + `tls.caFile`). */
  ca: string[] | undefined;
}

/** RFC 8460 §3: `v=TLSRPTv1; rua=mailto:a@b,https://c/d` (rua URIs are comma-separated). */
export function parseTlsRptRecord(txts: readonly string[]): string[] {
  const record = txts.find((t) => /^v=TLSRPTv1\s*(;|$)/.test(t));
  const rua = record
    ?.split(";")
    .map((f) => f.trim())
    .find((f) => f.startsWith("rua="));
  if (!rua) return [];
  return rua
    .slice(4)
    .split(",")
    .map((u) => u.trim())
    .filter((u) => /^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/i.test(u));
}

export function createTlsReportRunner(deps: TlsReportDeps): TlsReportRunner {
  const { config } = deps;
  const reports = config.tls.reports;
  const from = reports.from ?? `tlsrpt-noreply@${config.hostname}`;
  const org = reports.organizationName ?? config.hostname;
  const resolver = new Resolver({ timeout: config.dns.timeout, tries: 2 });
  if (config.dns.nameservers.length) resolver.setServers([...config.dns.nameservers]);
  const lookup = lookupVia(resolver, config.dns.nameservers.length > 0);

  async function ruaOf(domain: string): Promise<string[]> {
    try {
      return parseTlsRptRecord((await resolver.resolveTxt(`_smtp._tls.${domain}`)).map((c) => c.join("")));
    } catch {
      return [];
    }
  }

  async function deliver(domain: string, report: TlsReport, uri: string): Promise<void> {
    const json = Buffer.from(JSON.stringify(report));
    const gz = gzipSync(json);
    const start = Math.floor(Date.parse(report["date-range"]["start-datetime"]) / 1000);
    const end = Math.floor(Date.parse(report["date-range"]["end-datetime"]) / 1000);
    // RFC 8460 §5.3: sender!policy-domain!begin!end[!unique-id].json.gz
    const filename = `${config.hostname}!${domain}!${start}!${end}.json.gz`;
    if (uri.toLowerCase().startsWith("mailto:")) {
      const to = decodeURIComponent(uri.slice(7).split("?")[0]!);
      await deps.submit({
        from,
        to: [to],
        body: Readable.from([reportMessage({ from, to, org, domain, report, gz, filename, clock: deps.clock })]),
        source: { interface: "internal", name: "tls-reports" },
        maxSize: Number.MAX_SAFE_INTEGER,
        received: { protocol: "local" },
      });
      return;
    }
    await postReport(uri, gz, { ca: deps.ca, lookup, timeoutMs: config.tls.mtaSts.timeout });
  }

  async function run(day: string, opts: { send: boolean }): Promise<ReportOutcome[]> {
    const built = await buildReports(deps.coordinator, day, {
      organizationName: org,
      contactInfo: reports.contactInfo ?? from,
      hostname: config.hostname,
    });
    const outcomes: ReportOutcome[] = [];
    for (const [domain, report] of built) {
      const rua = await ruaOf(domain);
      const outcome: ReportOutcome = { domain, rua, sent: [], errors: [], report };
      outcomes.push(outcome);
      if (!opts.send) continue;
      for (const uri of rua) {
        const scheme = uri.toLowerCase().startsWith("mailto:") ? "mailto" : "https";
        if (!reports.via.includes(scheme)) continue;
        try {
          await deliver(domain, report, uri);
          outcome.sent.push(uri);
        } catch (err) {
          outcome.errors.push(`${uri}: ${(err as Error).message}`);
          deps.logger.warn({ err, domain, uri }, "TLS-RPT report not delivered");
        }
      }
    }
    if (opts.send)
      deps.logger.info({ day, domains: outcomes.filter((o) => o.sent.length).length }, "TLS-RPT reports sent");
    return outcomes;
  }

  /** Yesterday's reports, once per cluster: the lock keeps two hosts apart, the flag a restarted one. */
  async function daily() {
    const day = utcDay(deps.clock.now() - 86_400_000);
    const owner = randomBytes(6).toString("hex");
    const lock = await deps.coordinator.acquire(`tlsrpt-send|${day}`, owner, 15 * 60_000).catch(() => undefined);
    if (!lock) return;
    try {
      if (await deps.coordinator.getFlag(`tlsrpt-sent|${day}`)) return;
      await run(day, { send: true });
      await deps.coordinator.setFlag(`tlsrpt-sent|${day}`, new Date(deps.clock.now()).toISOString(), 3 * 86_400_000);
    } finally {
      await deps.coordinator.releaseLock(`tlsrpt-send|${day}`, owner, lock.token).catch(() => {});
    }
  }

  return {
    run,
    schedule() {
      let timer: NodeJS.Timeout | undefined;
      const [hh, mm] = reports.at.split(":").map(Number) as [number, number];
      const arm = () => {
        const now = deps.clock.now();
        const today = Date.parse(`${utcDay(now)}T00:00:00Z`) + (hh * 60 + mm) * 60_000;
        const next = today > now ? today : today + 86_400_000;
        timer = setTimeout(() => {
          daily()
            .catch((err) => deps.logger.error({ err }, "TLS-RPT daily run failed"))
            .finally(arm);
        }, next - now);
        timer.unref();
      };
      arm();
      return () => clearTimeout(timer);
    },
  };
}

function reportMessage(m: {
  from: string;
  to: string;
  org: string;
  domain: string;
  report: TlsReport;
  gz: Buffer;
  filename: string;
  clock: Clock;
}): string {
  const boundary = `tlsrpt-${randomBytes(8).toString("hex")}`;
  const id = m.report["report-id"];
  const b64 = m.gz.toString("base64").replace(/.{76}/g, "$&\r\n");
  // RFC 8460 §5.3: multipart/report; report-type="tlsrpt" with the gzipped JSON as application/tlsrpt+gzip.
  return [
    `From: ${m.from}`,
    `To: ${m.to}`,
    `Subject: Report Domain: ${m.domain} Submitter: ${m.org} Report-ID: <${id}>`,
    `Date: ${new Date(m.clock.now()).toUTCString().replace("GMT", "+0000")}`,
    `TLS-Report-Domain: ${m.domain}`,
    `TLS-Report-Submitter: ${m.org}`,
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type="tlsrpt"; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "",
    `This is an aggregate TLS report (RFC 8460) from ${m.org} for ${m.domain}, ${m.report["date-range"]["start-datetime"].slice(0, 10)}.`,
    "",
    `--${boundary}`,
    "Content-Type: application/tlsrpt+gzip",
    "Content-Transfer-Encoding: base64",
    `Content-Disposition: attachment; filename="${m.filename}"`,
    "",
    b64,
    `--${boundary}--`,
    "",
  ].join("\r\n");
}

/** RFC 8460 §5.2: POST the gzipped report as application/tlsrpt+gzip; any 2xx is success, redirects are not followed. */
function postReport(
  uri: string,
  gz: Buffer,
  { ca, lookup, timeoutMs }: { ca: string[] | undefined; lookup: LookupFunction; timeoutMs: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      uri,
      {
        method: "POST",
        headers: { "content-type": "application/tlsrpt+gzip", "content-length": gz.length },
        ...(ca ? { ca } : {}),
        lookup,
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve();
        else reject(new Error(`HTTP ${status}`));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(gz);
  });
}
