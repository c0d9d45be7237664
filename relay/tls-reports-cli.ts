// `zonerelay tls-reports show|send [--day YYYY-MM-DD]`: TLS-RPT reports of a running relay, through its HTTP API
// (GET /v1/tls-reports, POST /v1/tls-reports/send) — the counters live in that relay's coordinator.
import { parseArgs } from "node:util";

export const TLS_REPORTS_USAGE = `usage: zonerelay tls-reports <show|send> [options]

  show             print the day's aggregate reports (RFC 8460 JSON) and where each domain wants them
  send             send them now, by mail and/or HTTPS as tls.reports.via allows

options:
  --day YYYY-MM-DD UTC day (default: yesterday)
  --api URL        API base URL (default $ZONERELAY_API or http://127.0.0.1:12080)
  --key KEY        API key without zones (default $ZONERELAY_API_KEY)`;

export async function runTlsReportsCli(
  argv: string[],
  io: { out: (line: string) => void; err: (line: string) => void; env: Record<string, string | undefined> },
): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{ options: Record<string, { type: "string" | "boolean" }>; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { day: { type: "string" }, api: { type: "string" }, key: { type: "string" }, help: { type: "boolean" } },
    });
  } catch (err) {
    io.err(`zonerelay tls-reports: ${(err as Error).message}\n\n${TLS_REPORTS_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || (command !== "show" && command !== "send")) {
    io.out(TLS_REPORTS_USAGE);
    return values.help ? 0 : 2;
  }
  const base = String(values.api ?? io.env.ZONERELAY_API ?? "http://127.0.0.1:12080").replace(/\/+$/, "");
  const key = values.key ?? io.env.ZONERELAY_API_KEY;
  const query = values.day ? `?day=${encodeURIComponent(String(values.day))}` : "";
  const path = command === "send" ? `/v1/tls-reports/send${query}` : `/v1/tls-reports${query}`;
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: command === "send" ? "POST" : "GET",
      headers: key ? { authorization: `Bearer ${key}` } : {},
    });
  } catch (err) {
    io.err(`zonerelay tls-reports: cannot reach ${base}: ${(err as Error).message}`);
    return 1;
  }
  const data = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    io.err(`zonerelay tls-reports: ${res.status} ${String(data.title ?? "")}: ${String(data.detail ?? "")}`);
    return 1;
  }
  io.out(JSON.stringify(data, null, 2));
  const failed = (data.reports as { errors?: string[] }[] | undefined)?.some((r) => r.errors?.length);
  return failed ? 1 : 0;
}
