// MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy fetched over HTTPS from mta-sts.<domain>, MX pattern
// matching, and a cache kept in the Coordinator (Redis with `dbs.redis`, so every host shares it) for max_age.
import { request } from "node:https";
import type { LookupFunction } from "node:net";
import type { Logger } from "pino";
import type { Clock } from "../../shared/ports/clock.ts";
import type { Coordinator } from "../../shared/ports/coordinator.ts";

export interface StsPolicy {
  /** The `id` of the TXT record the policy was fetched for. */
  id: string;
  mode: "enforce" | "testing" | "none";
  /** MX patterns (`mx.example.com`, `*.example.com`). */
  mx: string[];
  /** max_age in seconds. */
  maxAge: number;
  /** The policy file's lines, as TLS-RPT's policy-string wants them. */
  lines: string[];
  fetchedAt: number;
  expiresAt: number;
}

/** RFC 8460 §4.3 result types that concern the policy itself. */
export type StsFailure = {
  result: "sts-policy-fetch-error" | "sts-policy-invalid" | "sts-webpki-invalid";
  reason: string;
};

export interface StsLookup {
  /** The policy in force (fresh, or cached and unexpired); undefined = the domain has no MTA-STS. */
  policy?: StsPolicy;
  /** A failure to report (TLS-RPT) even when a cached policy still applies. */
  failure?: StsFailure;
}

/** RFC 8461 §3.1: exactly one TXT record starting with `v=STSv1`, with an `id` of 1–32 alphanumerics. */
export function parseStsRecord(txts: readonly string[]): { id: string } | undefined {
  const records = txts.filter((t) => /^v=STSv1\s*(;|$)/.test(t));
  if (records.length !== 1) return undefined;
  const fields = new Map(
    records[0]!
      .split(";")
      .map((f) => f.trim())
      .filter(Boolean)
      .map((f) => {
        const eq = f.indexOf("=");
        return [f.slice(0, eq).trim(), f.slice(eq + 1).trim()] as const;
      }),
  );
  const id = fields.get("id");
  return id && /^[A-Za-z0-9]{1,32}$/.test(id) ? { id } : undefined;
}

/** RFC 8461 §3.2: `key: value` lines; version STSv1, a mode, max_age ≤ 31557600, mx lines unless mode none. */
export function parseStsPolicy(text: string): Pick<StsPolicy, "mode" | "mx" | "maxAge" | "lines"> {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  let version: string | undefined;
  let mode: string | undefined;
  let maxAge: number | undefined;
  const mx: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === "version") version ??= value;
    else if (key === "mode") mode ??= value;
    else if (key === "max_age") maxAge ??= /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
    else if (key === "mx") mx.push(value.toLowerCase().replace(/\.$/, ""));
    // unknown keys are ignored (RFC 8461 §3.2: extensions)
  }
  if (version !== "STSv1") throw new Error(`policy version is ${JSON.stringify(version)}, not STSv1`);
  if (mode !== "enforce" && mode !== "testing" && mode !== "none") throw new Error(`unknown policy mode ${mode}`);
  if (maxAge === undefined || !Number.isFinite(maxAge) || maxAge > 31_557_600) throw new Error("invalid max_age");
  if (mode !== "none" && mx.length === 0) throw new Error("policy names no mx");
  return { mode, mx, maxAge, lines };
}

/**
 * RFC 8461 §4.1: a pattern is a host name, or `*.` plus a domain matching exactly one more left-most label
 * (`*.example.com` matches `mx.example.com`, not `example.com` nor `a.b.example.com`).
 */
export function mxMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, "");
  const h = host.toLowerCase().replace(/\.$/, "");
  if (!p.startsWith("*.")) return p === h;
  const dot = h.indexOf(".");
  return dot > 0 && h.slice(dot + 1) === p.slice(2);
}

export interface MtaStsDeps {
  coordinator: Coordinator;
  clock: Clock;
  logger: Logger;
  /** TXT lookup through the configured resolvers; rejects with a code (ENOTFOUND, ENODATA, ESERVFAIL, …). */
  resolveTxt(name: string): Promise<string[][]>;
  /** Address lookup through the configured resolvers, for the policy host. */
  lookup: LookupFunction;
  port: number;
  timeoutMs: number;
  /** Trusted CAs (system + `tls.caFile`); undefined = Node's default store. */
  ca: string[] | undefined;
}

export interface MtaSts {
  policyFor(domain: string): Promise<StsLookup>;
}

const MAX_POLICY_BYTES = 64 * 1024;
const CACHE_PREFIX = "mta-sts|";

export function createMtaSts(deps: MtaStsDeps): MtaSts {
  const refreshing = new Map<string, Promise<StsLookup>>();

  async function cached(domain: string): Promise<StsPolicy | undefined> {
    const raw = await deps.coordinator.getFlag(CACHE_PREFIX + domain).catch(() => undefined);
    if (!raw) return undefined;
    const policy = JSON.parse(raw) as StsPolicy;
    return policy.expiresAt > deps.clock.now() ? policy : undefined;
  }

  async function fetchAndStore(domain: string, id: string, known: StsPolicy | undefined): Promise<StsLookup> {
    let text: string;
    try {
      text = await fetchPolicyText(domain, deps);
    } catch (err) {
      const failure: StsFailure = {
        result: (err as { code?: string }).code === "EWEBPKI" ? "sts-webpki-invalid" : "sts-policy-fetch-error",
        reason: (err as Error).message,
      };
      deps.logger.warn({ domain, err: failure.reason }, "MTA-STS policy fetch failed");
      // RFC 8461 §5.1: a policy that cannot be fetched leaves the cached one in force; without one, no MTA-STS.
      return { ...(known ? { policy: known } : {}), failure };
    }
    let parsed: ReturnType<typeof parseStsPolicy>;
    try {
      parsed = parseStsPolicy(text);
    } catch (err) {
      return {
        ...(known ? { policy: known } : {}),
        failure: { result: "sts-policy-invalid", reason: (err as Error).message },
      };
    }
    const now = deps.clock.now();
    const policy: StsPolicy = { id, ...parsed, fetchedAt: now, expiresAt: now + parsed.maxAge * 1000 };
    if (parsed.maxAge > 0) {
      await deps.coordinator
        .setFlag(CACHE_PREFIX + domain, JSON.stringify(policy), parsed.maxAge * 1000)
        .catch((err) => deps.logger.warn({ err, domain }, "MTA-STS policy not cached"));
    }
    return { policy };
  }

  /** One fetch per domain at a time in this process, however many lanes ask. */
  function refresh(domain: string, id: string, known: StsPolicy | undefined): Promise<StsLookup> {
    let pending = refreshing.get(domain);
    if (!pending) {
      pending = fetchAndStore(domain, id, known).finally(() => refreshing.delete(domain));
      refreshing.set(domain, pending);
    }
    return pending;
  }

  return {
    async policyFor(domain) {
      const known = await cached(domain);
      let record: { id: string } | undefined;
      try {
        record = parseStsRecord((await deps.resolveTxt(`_mta-sts.${domain}`)).map((chunks) => chunks.join("")));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "ENOTFOUND" && code !== "ENODATA") {
          // The record could not be read: a cached policy stays in force (RFC 8461 §5.1), else none applies.
          return known ? { policy: known } : {};
        }
      }
      // No record: a cached, unexpired policy still applies (an attacker may have removed the record).
      if (!record) return known ? { policy: known } : {};
      if (!known || known.id !== record.id) return refresh(domain, record.id, known);
      // Refresh before expiry: past half its life the policy is fetched again in the background, so a busy
      // destination never meets an expired policy (and an outage of the policy host costs nothing for a while).
      if (known.expiresAt - deps.clock.now() < (known.maxAge * 1000) / 2) {
        void refresh(domain, record.id, known);
      }
      return { policy: known };
    },
  };
}

/** GET https://mta-sts.<domain>/.well-known/mta-sts.txt: verified TLS, no redirects, 2xx, text/plain (§3.3). */
function fetchPolicyText(domain: string, deps: MtaStsDeps): Promise<string> {
  const host = `mta-sts.${domain}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: deps.port,
        path: "/.well-known/mta-sts.txt",
        method: "GET",
        servername: host,
        lookup: deps.lookup,
        ...(deps.ca ? { ca: deps.ca } : {}),
        rejectUnauthorized: true,
        timeout: deps.timeoutMs,
        headers: { "user-agent": "ZoneRelay MTA-STS" },
        agent: false,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const type = String(res.headers["content-type"] ?? "");
        if (status < 200 || status > 299) {
          res.resume();
          return reject(new Error(`HTTP ${status} from https://${host} (redirects are not followed)`));
        }
        if (!/^text\/plain\b/i.test(type)) {
          res.resume();
          return reject(new Error(`policy media type is ${type || "missing"}, not text/plain`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_POLICY_BYTES) {
            req.destroy(new Error("policy larger than 64 KiB"));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`policy fetch from ${host} timed out`)));
    req.on("error", (err: NodeJS.ErrnoException) => {
      // Certificate problems are their own TLS-RPT result (RFC 8460 §4.3.2.2: sts-webpki-invalid).
      const webpki = typeof err.code === "string" && /CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|ISSUER/.test(err.code);
      reject(webpki ? Object.assign(new Error(`${host}: ${err.message}`), { code: "EWEBPKI" }) : err);
    });
    req.end();
  });
}
