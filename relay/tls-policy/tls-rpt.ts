// TLS-RPT (RFC 8460) aggregation: every TLS session (and policy failure) is counted per UTC day, recipient domain,
// policy and failure detail in the Coordinator — Redis with `dbs.redis`, so all hosts add up — and the day's
// counts are read back into the JSON report of §4.
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { Clock } from "../../shared/ports/clock.ts";
import type { Coordinator } from "../../shared/ports/coordinator.ts";
import type { RptPolicy, SessionOutcome, TlsSessionReporter } from "./policy.ts";

const DAY_MS = 86_400_000;
const PREFIX = "tlsrpt|";
/** How long the index of a day's counters is kept: the report of day D is made on D+1, retried on D+2. */
const INDEX_TTL_MS = 4 * DAY_MS;

/** "2026-11-25" for a time. */
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The counter window for a day's counters. Coordinator counters are forgotten when their window ends and windows
 * are aligned to the epoch, so the day's key gets a window (in whole days) that also covers the two days after it:
 * the smallest W ≥ 3 with (day mod W) ≤ W − 3. Counters then live a few days, never months.
 */
export function windowFor(day: string): number {
  const d = Math.floor(Date.parse(`${day}T00:00:00Z`) / DAY_MS);
  for (let w = 3; w <= 60; w++) if (d % w <= w - 3) return w * DAY_MS;
  return 400 * DAY_MS; // unreachable for real dates; still correct, only longer-lived
}

interface IndexEntry {
  domain: string;
  policy: RptPolicy;
  failure?: { result: string; mx?: string; receivingIp?: string; sendingIp?: string; reason: string };
}

export function createTlsRptRecorder(deps: {
  coordinator: Coordinator;
  clock: Clock;
  logger: Logger;
}): TlsSessionReporter {
  /** Index entries this process has written today (one flag write per counter per day and process). */
  const indexed = new Set<string>();
  let indexedDay = "";
  return {
    record(domain, policy, outcome) {
      const day = utcDay(deps.clock.now());
      if (day !== indexedDay) {
        indexed.clear();
        indexedDay = day;
      }
      const entry: IndexEntry = {
        domain: domain.toLowerCase(),
        policy,
        ...(outcome.ok ? {} : { failure: detail(outcome) }),
      };
      const id = entryId(entry);
      const key = `${PREFIX}${day}|${id}`;
      const work = async () => {
        await deps.coordinator.increment(key, 1, windowFor(day));
        if (!indexed.has(id)) {
          await deps.coordinator.setFlag(key, JSON.stringify(entry), INDEX_TTL_MS);
          indexed.add(id);
        }
      };
      // Counting must never hold up or fail a delivery.
      work().catch((err) => deps.logger.warn({ err, domain }, "TLS-RPT session not counted"));
    },
  };
}

function detail(o: Exclude<SessionOutcome, { ok: true }>): NonNullable<IndexEntry["failure"]> {
  return {
    result: o.result,
    reason: o.reason.slice(0, 300),
    ...(o.mx ? { mx: o.mx } : {}),
    ...(o.receivingIp ? { receivingIp: o.receivingIp } : {}),
    ...(o.sendingIp && o.sendingIp !== "0.0.0.0" && o.sendingIp !== "::" ? { sendingIp: o.sendingIp } : {}),
  };
}

/** The counter's identity: everything but the free-text reason (kept from the first occurrence). */
function entryId(e: IndexEntry): string {
  const { reason: _reason, ...f } = e.failure ?? { reason: "" };
  return createHash("sha256")
    .update(JSON.stringify([e.domain, e.policy, e.failure ? f : null]))
    .digest("base64url")
    .slice(0, 22);
}

/** RFC 8460 §4.4 report, as JSON. */
export interface TlsReport {
  "organization-name": string;
  "date-range": { "start-datetime": string; "end-datetime": string };
  "contact-info": string;
  "report-id": string;
  policies: {
    policy: { "policy-type": string; "policy-string": string[]; "policy-domain": string; "mx-host": string[] };
    summary: { "total-successful-session-count": number; "total-failure-session-count": number };
    "failure-details": {
      "result-type": string;
      "sending-mta-ip"?: string;
      "receiving-mx-hostname"?: string;
      "receiving-ip"?: string;
      "failed-session-count": number;
      "failure-reason-code"?: string;
    }[];
  }[];
}

/** The reports of one UTC day, one per recipient domain that had sessions, from the Coordinator's counters. */
export async function buildReports(
  coordinator: Coordinator,
  day: string,
  meta: { organizationName: string; contactInfo: string; hostname: string },
): Promise<Map<string, TlsReport>> {
  const flags = await coordinator.listFlags(`${PREFIX}${day}|`);
  const byDomain = new Map<string, TlsReport>();
  for (const flag of flags) {
    const entry = JSON.parse(flag.value) as IndexEntry;
    const count = await coordinator.count(flag.key, windowFor(day));
    if (count === 0) continue;
    let report = byDomain.get(entry.domain);
    if (!report) {
      report = {
        "organization-name": meta.organizationName,
        "date-range": { "start-datetime": `${day}T00:00:00Z`, "end-datetime": `${day}T23:59:59Z` },
        "contact-info": meta.contactInfo,
        "report-id": `${day}.${entry.domain}@${meta.hostname}`,
        policies: [],
      };
      byDomain.set(entry.domain, report);
    }
    const policyJson = JSON.stringify(entry.policy);
    let p = report.policies.find((x) => JSON.stringify(policyOf(x.policy)) === policyJson);
    if (!p) {
      p = {
        policy: {
          "policy-type": entry.policy.type,
          "policy-string": entry.policy.strings,
          "policy-domain": entry.domain,
          "mx-host": entry.policy.mxHost,
        },
        summary: { "total-successful-session-count": 0, "total-failure-session-count": 0 },
        "failure-details": [],
      };
      report.policies.push(p);
    }
    if (!entry.failure) {
      p.summary["total-successful-session-count"] += count;
      continue;
    }
    p.summary["total-failure-session-count"] += count;
    const f = entry.failure;
    p["failure-details"].push({
      "result-type": f.result,
      ...(f.sendingIp ? { "sending-mta-ip": f.sendingIp } : {}),
      ...(f.mx ? { "receiving-mx-hostname": f.mx } : {}),
      ...(f.receivingIp ? { "receiving-ip": f.receivingIp } : {}),
      "failed-session-count": count,
      "failure-reason-code": f.reason,
    });
  }
  return byDomain;
}

function policyOf(p: TlsReport["policies"][number]["policy"]): RptPolicy {
  return { type: p["policy-type"] as RptPolicy["type"], strings: p["policy-string"], mxHost: p["mx-host"] };
}
