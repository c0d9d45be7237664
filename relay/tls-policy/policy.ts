// The outbound TLS policy of a delivery, decided before connecting — the one place that weighs DANE, MTA-STS,
// requireTLS and opportunistic STARTTLS — and the check of a TLS session against it.
//
// Precedence per MX host: DANE (validated TLSA records) > MTA-STS enforce > requireTLS > MTA-STS testing >
// opportunistic. RFC 8461 §2: MTA-STS must not override a failing DANE validation; DANE applies per host.

import { lookup as systemLookup } from "node:dns";
import { Resolver } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { isIP, type LookupFunction } from "node:net";
import { createSecureContext, rootCertificates, type SecureContext, type TLSSocket } from "node:tls";
import { domainToASCII } from "node:url";
import type { Logger } from "pino";
import type { Config, ZoneConfig } from "../../shared/config/schema.ts";
import type { Clock } from "../../shared/ports/clock.ts";
import type { Coordinator } from "../../shared/ports/coordinator.ts";
import type { MxHost } from "../sender/mx.ts";
import { chainOf, type Tlsa, usableTlsa, verifyDane } from "./dane.ts";
import { createMtaSts, mxMatches, type StsFailure, type StsLookup, type StsPolicy } from "./mta-sts.ts";
import { createSecureResolver, type SecureResolver } from "./secure-dns.ts";

export type TlsPolicyName = "opportunistic" | "require-tls" | "mta-sts" | "mta-sts-testing" | "dane";

/** RFC 8460 §4.3: result types of a failed TLS session or policy. */
export type RptResult =
  | "starttls-not-supported"
  | "certificate-host-mismatch"
  | "certificate-expired"
  | "certificate-not-trusted"
  | "validation-failure"
  | "tlsa-invalid"
  | "dnssec-invalid"
  | "dane-required"
  | StsFailure["result"];

/** The policy as a TLS-RPT report describes it (RFC 8460 §4.4). */
export interface RptPolicy {
  type: "sts" | "tlsa" | "no-policy-found";
  strings: string[];
  mxHost: string[];
}

/** What a connection to one host must satisfy. */
export interface HostTls {
  policy: TlsPolicyName;
  /** A failure defers (no plain-text retry, no unverified certificate); otherwise it is only reported. */
  enforce: boolean;
  /** What the session is checked against: nothing, the WebPKI (CA chain + host name), or TLSA records. */
  verify: "none" | "webpki" | "dane";
  tlsa: Tlsa[];
  /** Names the certificate must carry (webpki, DANE-TA). */
  names: string[];
  rpt: RptPolicy;
}

export interface TlsPlan {
  /** The strongest policy among the hosts (what the attempt records when no connection was made). */
  policy: TlsPolicyName;
  /** The hosts that may be tried, in order (MTA-STS enforce drops MX hosts its policy does not name). */
  hosts: MxHost[];
  forHost(host: string): HostTls;
  /** No host is left: the delivery is deferred with this reason, never sent elsewhere or in plain text. */
  refusal?: { reason: string; result: RptResult; rpt: RptPolicy };
  /** Policy-level failures to report (a policy that could not be fetched). */
  failures: { result: RptResult; reason: string; rpt: RptPolicy }[];
}

export type TlsCheck = { ok: true } | { ok: false; result: RptResult; reason: string };

/** One TLS session (or policy) outcome for TLS-RPT; failures say where (RFC 8460 §4.4 failure-details). */
export type SessionOutcome =
  | { ok: true }
  | {
      ok: false;
      result: string;
      reason: string;
      mx?: string | undefined;
      receivingIp?: string | undefined;
      sendingIp?: string | undefined;
    };

/** Where sessions are counted (relay/tls-policy/tls-rpt.ts); must not throw or block delivery. */
export interface TlsSessionReporter {
  record(domain: string, policy: RptPolicy, outcome: SessionOutcome): void;
}

export interface TlsPolicyEngine {
  plan(domain: string, hosts: MxHost[], zone: ZoneConfig): Promise<TlsPlan>;
  /** Trusted CAs for verified sessions (system + `tls.caFile`); undefined = Node's default store. */
  readonly ca: string[] | undefined;
  /**
   * The same trust as a TLS context, built once for every SMTP connection: Node otherwise builds one per
   * connection, and from the ~140 system CAs plus `tls.caFile` that cost ~15 ms of CPU each time.
   */
  readonly secureContext: SecureContext;
}

const OPPORTUNISTIC: HostTls = {
  policy: "opportunistic",
  enforce: false,
  verify: "none",
  tlsa: [],
  names: [],
  rpt: { type: "no-policy-found", strings: [], mxHost: [] },
};

/** Today's behaviour, for callers without a policy engine. */
export function opportunisticPlan(hosts: MxHost[]): TlsPlan {
  return { policy: "opportunistic", hosts, forHost: () => OPPORTUNISTIC, failures: [] };
}

const STRENGTH: TlsPolicyName[] = ["opportunistic", "mta-sts-testing", "require-tls", "mta-sts", "dane"];

export interface TlsPolicyDeps {
  coordinator: Coordinator;
  clock: Clock;
  logger: Logger;
  /** Injected in unit tests; default: dns-packet to `dns.nameservers`. */
  secureDns?: SecureResolver;
}

/** The system CAs plus `tls.caFile`; undefined = Node's default store (no extra CAs configured). */
export function trustedCas(config: Readonly<Config>): string[] | undefined {
  return config.tls.caFile ? [...rootCertificates, readFileSync(config.tls.caFile, "utf8")] : undefined;
}

export function createTlsPolicy(config: Readonly<Config>, deps: TlsPolicyDeps): TlsPolicyEngine {
  const ca = trustedCas(config);
  const secureContext = createSecureContext(ca ? { ca } : {});
  const resolver = new Resolver({ timeout: config.dns.timeout, tries: 2 });
  if (config.dns.nameservers.length) resolver.setServers([...config.dns.nameservers]);
  const secureDns =
    deps.secureDns ?? createSecureResolver({ nameservers: config.dns.nameservers, timeoutMs: config.dns.timeout });
  const mtaSts = createMtaSts({
    coordinator: deps.coordinator,
    clock: deps.clock,
    logger: deps.logger,
    resolveTxt: (name) => resolver.resolveTxt(name),
    lookup: lookupVia(resolver, config.dns.nameservers.length > 0),
    port: config.tls.mtaSts.port,
    timeoutMs: config.tls.mtaSts.timeout,
    ca,
  });

  async function daneFor(ascii: string, hosts: MxHost[]): Promise<Map<string, Tlsa[] | { unusable: string }>> {
    const found = new Map<string, Tlsa[] | { unusable: string }>();
    if (!config.tls.dane.enabled || hosts.length === 0) return found;
    const configured = hosts.every((h) => h.configured);
    if (!configured) {
      // RFC 7672 §2.2.1: MX host names are trusted only from a validated MX RRset (§2.2.2: or the domain's own
      // address records when it has no MX).
      const implicit = hosts.length === 1 && hosts[0]!.host === ascii;
      const answer = await secureDns.query(ascii, implicit ? "A" : "MX").catch(() => undefined);
      if (!answer?.secure || answer.rcode !== "NOERROR") return found;
    }
    await Promise.all(
      hosts.map(async (h) => {
        // A host given as an IP address has no name to publish TLSA under (RFC 7672 §3): no query to wait for.
        if (isIP(h.host)) return;
        const answer = await secureDns.query(`_${h.port}._tcp.${h.host}`, "TLSA").catch(() => undefined);
        if (!answer || answer.rcode === "SERVFAIL") {
          // RFC 7672 §2.2: a TLSA lookup that fails (not "no records") makes a host of a signed domain unusable.
          if (!configured) found.set(h.host, { unusable: "TLSA lookup failed (SERVFAIL or timeout)" });
          return;
        }
        if (!answer.secure || answer.rcode !== "NOERROR") return; // insecure, or validated denial: no DANE
        const records = answer.answers.flatMap((a) =>
          a.type === "TLSA"
            ? [
                {
                  usage: a.data.usage,
                  selector: a.data.selector,
                  matchingType: a.data.matchingType,
                  data: a.data.certificate,
                },
              ]
            : [],
        );
        if (records.length) found.set(h.host, records);
      }),
    );
    return found;
  }

  return {
    ca,
    secureContext,
    async plan(domain, hosts, zone) {
      const ascii = (domainToASCII(domain) || domain).toLowerCase();
      const configured = hosts.length > 0 && hosts.every((h) => h.configured);
      const [dane, sts] = await Promise.all([
        daneFor(ascii, hosts),
        config.tls.mtaSts.enabled && !configured ? mtaSts.policyFor(ascii) : Promise.resolve<StsLookup>({}),
      ]);
      const requireTls =
        config.domainConfig[domain]?.requireTLS ?? config.domainConfig.default?.requireTLS ?? zone.requireTLS;
      const policy = sts.policy;
      const stsRpt: RptPolicy | undefined = policy
        ? { type: "sts", strings: policy.lines, mxHost: policy.mx }
        : undefined;
      const failures: TlsPlan["failures"] = [];
      if (sts.failure) {
        failures.push({ ...sts.failure, rpt: stsRpt ?? { type: "sts", strings: [], mxHost: [] } });
      }

      const byHost = new Map<string, HostTls>();
      const usable: MxHost[] = [];
      const left: string[] = [];
      for (const h of hosts) {
        const tls = hostPolicy(h, dane.get(h.host), policy, stsRpt, requireTls);
        if ("excluded" in tls) {
          left.push(`${h.host}: ${tls.excluded}`);
          continue;
        }
        byHost.set(h.host, tls);
        usable.push(h);
      }
      const strongest = [...byHost.values()].reduce<TlsPolicyName>(
        (best, t) => (STRENGTH.indexOf(t.policy) > STRENGTH.indexOf(best) ? t.policy : best),
        policy?.mode === "enforce" ? "mta-sts" : requireTls ? "require-tls" : "opportunistic",
      );
      const plan: TlsPlan = {
        policy: strongest,
        hosts: usable,
        forHost: (host) => byHost.get(host) ?? OPPORTUNISTIC,
        failures,
      };
      if (usable.length === 0 && hosts.length > 0) {
        const daneRefused = [...dane.values()].some((v) => !Array.isArray(v));
        if (daneRefused) plan.policy = "dane";
        plan.refusal = {
          reason: `4.7.5 No MX host of ${domain} may be used under its TLS policy (${left.join("; ")})`,
          result: daneRefused ? "dnssec-invalid" : "validation-failure",
          rpt: daneRefused
            ? { type: "tlsa", strings: [], mxHost: hosts.map((h) => h.host) }
            : (stsRpt ?? OPPORTUNISTIC.rpt),
        };
      }
      return plan;
    },
  };
}

function hostPolicy(
  h: MxHost,
  dane: Tlsa[] | { unusable: string } | undefined,
  sts: StsPolicy | undefined,
  stsRpt: RptPolicy | undefined,
  requireTls: boolean,
): HostTls | { excluded: string } {
  const names = [h.host.toLowerCase().replace(/\.$/, "")];
  if (dane && !Array.isArray(dane)) return { excluded: dane.unusable };
  if (dane) {
    const usable = usableTlsa(dane);
    return {
      policy: "dane",
      enforce: true,
      // RFC 7672 §2.2: a validated TLSA RRset without usable records still demands TLS, unauthenticated.
      verify: usable.length ? "dane" : "none",
      tlsa: usable,
      names,
      rpt: { type: "tlsa", strings: dane.map(tlsaText), mxHost: [h.host] },
    };
  }
  if (sts && stsRpt && sts.mode === "enforce" && !h.configured) {
    // RFC 8461 §4.1: under enforce, an MX host the policy does not name is never used.
    if (!sts.mx.some((p) => mxMatches(p, h.host))) return { excluded: "not named by its MTA-STS policy" };
    return { policy: "mta-sts", enforce: true, verify: "webpki", tlsa: [], names, rpt: stsRpt };
  }
  if (requireTls)
    return {
      policy: "require-tls",
      enforce: true,
      verify: "webpki",
      tlsa: [],
      names,
      rpt: stsRpt ?? OPPORTUNISTIC.rpt,
    };
  if (sts && stsRpt && sts.mode === "testing" && !h.configured) {
    // RFC 8461 §5: in testing mode failures are reported and mail is delivered as if there were no policy.
    return { policy: "mta-sts-testing", enforce: false, verify: "webpki", tlsa: [], names, rpt: stsRpt };
  }
  return OPPORTUNISTIC;
}

/** Presentation form of a TLSA record, as TLS-RPT's policy-string lists them. */
export function tlsaText(r: Tlsa): string {
  return `${r.usage} ${r.selector} ${r.matchingType} ${r.data.toString("hex")}`;
}

/** Checks an established (or refused) TLS session against a host's policy. */
export function checkSession(h: HostTls, session: { secure: boolean; socket?: TLSSocket | undefined }): TlsCheck {
  if (!session.secure || !session.socket) {
    return { ok: false, result: "starttls-not-supported", reason: "the session is not encrypted (no STARTTLS)" };
  }
  const socket = session.socket;
  if (h.verify === "webpki" && !socket.authorized) {
    const code = String(socket.authorizationError ?? "");
    const result: RptResult =
      code === "CERT_HAS_EXPIRED"
        ? "certificate-expired"
        : /ALTNAME|HOSTNAME|HOST_MISMATCH/.test(code)
          ? "certificate-host-mismatch"
          : "certificate-not-trusted";
    return { ok: false, result, reason: `certificate not valid for ${h.names[0]} (${code || "unverified"})` };
  }
  if (h.verify === "dane") {
    const verdict = verifyDane(h.tlsa, chainOf(socket.getPeerCertificate(true)), h.names);
    if (!verdict.ok) return { ok: false, result: "validation-failure", reason: `DANE: ${verdict.reason}` };
  }
  return { ok: true };
}

/** net.LookupFunction over the configured resolvers, for the policy host (mta-sts.<domain>) and report uploads. */
export function lookupVia(resolver: Resolver, useResolver: boolean): LookupFunction {
  if (!useResolver) return systemLookup as unknown as LookupFunction;
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    Promise.all([resolver.resolve4(hostname).catch(() => []), resolver.resolve6(hostname).catch(() => [])]).then(
      ([v4, v6]) => {
        const all = [
          ...v4.map((address) => ({ address, family: 4 })),
          ...v6.map((address) => ({ address, family: 6 })),
        ];
        if (all.length === 0) {
          callback(Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" }));
        } else if (options?.all) callback(null, all);
        else callback(null, all[0]!.address, all[0]!.family);
      },
      (err) => callback(err),
    );
  }) as unknown as LookupFunction;
}

/** Plans kept for a lane's lifetime: one policy decision per lane (like its MX answer), a fresh one for the next. */
export function memoPlans(engine: TlsPolicyEngine): TlsPolicyEngine {
  const memo = new Map<string, Promise<TlsPlan>>();
  return {
    ca: engine.ca,
    secureContext: engine.secureContext,
    plan(domain, hosts, zone) {
      let hit = memo.get(domain);
      if (!hit) {
        hit = engine.plan(domain, hosts, zone);
        memo.set(domain, hit);
        hit.catch(() => memo.delete(domain));
      }
      return hit;
    },
  };
}
