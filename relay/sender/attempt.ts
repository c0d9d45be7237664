// One delivery attempt over SMTP: find or open a connection to the destination, send, and report the outcome
// as an Attempt plus whether it is final — the caller turns it into a queue completion.
import { domainToASCII } from "node:url";
import type { Logger } from "pino";
import type { ZoneConfig } from "../../shared/config/schema.ts";
import type { Attempt, LeasedDelivery } from "../../shared/domain/envelope.ts";
import { MailError } from "../../shared/errors.ts";
import { classifyReply, parseReply } from "../../shared/mail/bounce-classify.ts";
import type { PluginHost } from "../../shared/plugins/host.ts";
import type { BodyStore } from "../../shared/ports/body-store.ts";
import type { Clock } from "../../shared/ports/clock.ts";
import {
  checkSession,
  opportunisticPlan,
  type TlsPlan,
  type TlsPolicyEngine,
  type TlsSessionReporter,
} from "../tls-policy/policy.ts";
import type { ConnectionCache } from "./connection-cache.ts";
import { DeliveryError } from "./delivery-error.ts";
import type { DkimSetup } from "./dkim.ts";
import type { LocalBinding } from "./local-address.ts";
import type { MxHost, MxResolver } from "./mx.ts";
import { prepareOutgoing } from "./outgoing.ts";
import { SmtpClient } from "./smtp-client.ts";

export interface AttemptDeps {
  zone: ZoneConfig;
  mx: MxResolver;
  bodyStore: BodyStore;
  clock: Clock;
  cache: ConnectionCache;
  pickAddress: (remoteAddress: string) => LocalBinding | undefined;
  logger: Logger;
  /** DKIM keys and options; unset = no signatures. */
  dkim?: DkimSetup | undefined;
  /** sender:fetch, sender:connect and sender:headers hooks. */
  plugins?: PluginHost | undefined;
  /** Outbound TLS policy (MTA-STS, DANE, requireTLS); unset = opportunistic STARTTLS. */
  tls?: TlsPolicyEngine | undefined;
  /** TLS-RPT: counts each TLS session's success or failure under its policy. */
  tlsReport?: TlsSessionReporter | undefined;
}

export interface AttemptResult {
  attempt: Attempt;
  /** delivered, or failed permanently (bounce), or temporarily (defer). */
  outcome: "delivered" | "bounced" | "deferred";
  /** Enhanced status for DSNs, e.g. "5.1.1". */
  status: string;
}

const NON_ASCII = /[^\x00-\x7f]/;

export async function attemptDelivery(d: LeasedDelivery, deps: AttemptDeps): Promise<AttemptResult> {
  return (await attemptDeliveries([d], deps))[0]!;
}

/**
 * One SMTP transaction for deliveries of one message to one domain, a RCPT TO each (RFC 5321 §3.3), so the body
 * is read, signed and sent once. One outcome per delivery, in order: a recipient's own refusal (at RCPT, or for a
 * mailbox name that needs SMTPUTF8) is its own; everything else applies to all. The sender:* hooks see one
 * delivery, so the lane batches only when no plugin has them.
 */
export async function attemptDeliveries(ds: LeasedDelivery[], deps: AttemptDeps): Promise<AttemptResult[]> {
  const d = ds[0]!;
  const started = deps.clock.now();
  let client: SmtpClient | undefined;
  let cacheKey = "";
  let mxName: string | undefined;
  let plan: TlsPlan | undefined;
  try {
    if (deps.plugins) await deps.plugins.run("sender:fetch", { delivery: d }).catch(throwAsReply);
    const resolved = await deps.mx.resolve(d.domain, deps.zone);
    // The TLS policy is decided before connecting (relay/tls-policy): which hosts, and what their TLS must be.
    plan = deps.tls ? await deps.tls.plan(d.domain, resolved, deps.zone) : opportunisticPlan(resolved);
    for (const f of plan.failures)
      deps.tlsReport?.record(d.domain, f.rpt, { ok: false, result: f.result, reason: f.reason });
    if (plan.refusal) {
      deps.tlsReport?.record(d.domain, plan.refusal.rpt, { ok: false, ...plan.refusal });
      throw new DeliveryError(plan.refusal.reason, {
        errorCode: "ETLS",
        stage: "starttls",
        tlsResult: plan.refusal.result,
      });
    }
    const hosts = plan.hosts;
    let reused: boolean;
    ({ client, key: cacheKey, reused } = await connectToAny(hosts, d.domain, deps, true, plan));
    mxName = client.options.host;
    const connected = {
      delivery: d,
      envelope: { from: d.message.from, to: d.recipient },
      mx: mxName,
      ehlo: client.options.name,
      ...(client.localAddress ? { localAddress: client.localAddress } : {}),
      dkimKeys: [],
    };
    if (deps.plugins) await deps.plugins.run("sender:connect", connected).catch(throwAsReply);
    let from = connected.envelope.from;
    let tos = ds.map((x) => x.recipient);
    if (!client.supportsSmtpUtf8) {
      // An IDN domain travels as A-labels (RFC 5890 §2.3.2.1) to any server; only a mailbox name that is not ASCII
      // needs SMTPUTF8 — without it the address cannot be delivered (RFC 6531 §3.5), and the bounce says so.
      from = withAsciiDomain(from);
      tos = tos.map(withAsciiDomain);
    }
    const needsUtf8 = (address: string, which: string) =>
      NON_ASCII.test(address) && !client!.supportsSmtpUtf8
        ? new DeliveryError(
            `553 5.6.7 ${which}: the mailbox name is not ASCII and ${mxName} does not support SMTPUTF8 (RFC 6531)`,
            { code: 553, stage: "mail", permanent: true, mx: mxName },
          )
        : undefined;
    const senderRefusal = needsUtf8(from, `sender <${connected.envelope.from}>`);
    if (senderRefusal) throw senderRefusal;
    const refusals = ds.map((x, i) => needsUtf8(tos[i]!, `<${x.recipient}>`));
    if (ds.length === 1 && refusals[0]) throw refusals[0];
    const sendTo = tos.filter((_, i) => !refusals[i]);
    let outcomes: (string | DeliveryError)[] = [];
    if (sendTo.length) {
      const outgoing = await prepareOutgoing(d, deps, client.options.name, connected.dkimKeys).catch(throwAsReply);
      try {
        outcomes = await client.sendEach(from, sendTo, await outgoing.open());
      } catch (err) {
        // A cached connection the server closed while idle is not the destination's fault: once more, fresh.
        if (!reused || !(err instanceof DeliveryError) || err.details.code) throw err;
        client.close();
        client = undefined;
        ({ client, key: cacheKey } = await connectToAny(hosts, d.domain, deps, false, plan));
        mxName = client.options.host;
        outcomes = await client.sendEach(from, sendTo, await outgoing.open());
      }
    }
    // Every recipient refused: the transaction is still open, so RSET before the connection is used again.
    if (outcomes.every((o) => o instanceof DeliveryError) && !(await client.reset())) client.close();
    else deps.cache.put(cacheKey, client);
    const sent = client;
    let next = 0;
    return ds.map((x, i) => {
      const outcome = refusals[i] ?? outcomes[next++]!;
      if (outcome instanceof DeliveryError) return failed(x, outcome, started, deps, sent, mxName, plan);
      return {
        outcome: "delivered",
        status: "2.0.0",
        attempt: record(x, started, deps, "delivered", outcome, sent, mxName, plan),
      };
    });
  } catch (err) {
    const failure =
      err instanceof DeliveryError ? err : new DeliveryError((err as Error).message, { errorCode: "EINTERNAL" });
    // A reply-level failure leaves the connection usable after RSET; anything else is discarded.
    if (client) {
      if (failure.details.code && (await client.reset())) deps.cache.put(cacheKey, client);
      else client.close();
    }
    const used = client;
    return ds.map((x) => failed(x, failure, started, deps, used, mxName, plan));
  }
}

/** A failed attempt: deferred or bounced as the reply (or the error) says. */
function failed(
  d: LeasedDelivery,
  failure: DeliveryError,
  started: number,
  deps: AttemptDeps,
  client: SmtpClient | undefined,
  mxName: string | undefined,
  plan: TlsPlan | undefined,
): AttemptResult {
  const verdict = classifyReply({
    text: failure.message,
    ...(failure.details.code ? { code: failure.details.code } : {}),
    ...(failure.details.errorCode ? { errorCode: failure.details.errorCode } : {}),
    ...(failure.details.stage ? { stage: failure.details.stage } : {}),
  });
  const permanent = failure.details.permanent === true || verdict.action === "bounce";
  const response = failure.details.code
    ? failure.message
    : `${failure.details.errorCode ?? "error"}: ${failure.message}`;
  const attempt = record(
    d,
    started,
    deps,
    permanent ? "bounced" : "deferred",
    response,
    client,
    failure.details.mx ?? mxName,
    plan,
  );
  attempt.category = verdict.category;
  return {
    outcome: permanent ? "bounced" : "deferred",
    status: statusFor(failure.message, permanent),
    attempt,
  };
}

/** The address with its domain in A-labels (the local part as it is). */
function withAsciiDomain(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 0 || !NON_ASCII.test(address.slice(at + 1))) return address;
  return `${address.slice(0, at)}@${domainToASCII(address.slice(at + 1)) || address.slice(at + 1)}`;
}

/** A plugin's refusal (a MailError) as a reply-like DeliveryError: its code decides defer or bounce. */
function throwAsReply(err: unknown): never {
  if (!(err instanceof MailError)) throw err;
  throw new DeliveryError(`${err.smtpCode} ${err.enhanced} ${err.message}`, {
    code: err.smtpCode,
    permanent: !err.temporary,
    errorCode: "EPLUGIN",
  });
}

/**
 * Tries each MX host and address in order. A failed TLS handshake is retried once in plain text only where the
 * host's policy is not enforced (opportunistic, MTA-STS testing); under an enforced one the next host is tried.
 */
async function connectToAny(hosts: MxHost[], domain: string, deps: AttemptDeps, allowCached: boolean, plan: TlsPlan) {
  let lastError: unknown;
  for (const host of hosts) {
    const hostTls = plan.forHost(host.host);
    const report = (outcome: Parameters<TlsSessionReporter["record"]>[2]) =>
      deps.tlsReport?.record(domain, hostTls.rpt, outcome);
    for (const address of host.addresses) {
      const binding = deps.pickAddress(address);
      if (!binding) continue;
      // A connection opened under one policy is never reused under another.
      const key = `${domain}|${host.host}|${binding.localAddress ?? "*"}|${hostTls.policy}`;
      const cached = allowCached ? deps.cache.take(key) : undefined;
      if (cached) return { client: cached, key, reused: true };
      const options = {
        host: host.host,
        address,
        port: host.port,
        name: binding.name,
        useTls: true,
        timeouts: deps.zone.timeouts,
        ...(binding.localAddress ? { localAddress: binding.localAddress } : {}),
        // Credentials go only to the zone's own smarthost, never to a recipient's MX.
        ...(deps.zone.auth && deps.zone.host === host.host ? { auth: deps.zone.auth } : {}),
        tlsPolicy: {
          enforce: hostTls.enforce,
          ...(deps.tls ? { secureContext: deps.tls.secureContext } : {}),
          check: (s: Parameters<typeof checkSession>[1]) => checkSession(hostTls, s),
        },
      };
      const facts = { mx: host.host, receivingIp: address, sendingIp: binding.localAddress };
      try {
        const client = await SmtpClient.connect(options);
        if (client.tlsCheck) report(client.tlsCheck.ok ? { ok: true } : { ...client.tlsCheck, ...facts });
        return { client, key, reused: false };
      } catch (err) {
        lastError = err;
        if (err instanceof DeliveryError && err.details.stage === "starttls") {
          report({ ok: false, result: err.details.tlsResult ?? "validation-failure", reason: err.message, ...facts });
        }
        if (err instanceof DeliveryError && err.details.stage === "starttls" && !hostTls.enforce) {
          deps.logger.warn({ mx: host.host, address, err: err.message }, "TLS failed, retrying in plain text");
          try {
            const { tlsPolicy: _checked, ...plain } = options; // the failure is reported once, above
            return { client: await SmtpClient.connect({ ...plain, useTls: false }), key, reused: false };
          } catch (plainErr) {
            lastError = plainErr;
          }
        }
        // A reply from the server (e.g. 554 at greeting) is an answer, not an unreachable host: stop here.
        if (err instanceof DeliveryError && err.details.code && err.details.code >= 500) throw err;
      }
    }
  }
  throw (
    lastError ?? new DeliveryError(`No usable local address for the MX hosts of ${domain}`, { errorCode: "ENOLOCAL" })
  );
}

function record(
  d: LeasedDelivery,
  started: number,
  deps: AttemptDeps,
  outcome: Attempt["outcome"],
  response: string,
  client: SmtpClient | undefined,
  mx: string | undefined,
  plan: TlsPlan | undefined,
): Attempt {
  const localAddress = client?.localAddress;
  const session = client?.tlsSession;
  return {
    deliveryId: d.id,
    at: started,
    durationMs: deps.clock.now() - started,
    outcome,
    response: response.slice(0, 1000),
    ...(localAddress ? { localAddress } : {}),
    ...(mx ? { mx } : {}),
    ...(client ? { tls: client.secure } : {}),
    ...(plan ? { tlsPolicy: mx ? plan.forHost(mx).policy : plan.policy } : {}),
    ...(session ? { tlsVersion: session.version, tlsCipher: session.cipher } : {}),
  };
}

/** The enhanced status for DSNs, its class made to agree with the outcome (a deferred 5xx is still a 4.x.x). */
function statusFor(text: string, permanent: boolean): string {
  const enhanced = parseReply(text).enhanced;
  const cls = permanent ? "5" : "4";
  return enhanced ? `${cls}${enhanced.slice(1)}` : `${cls}.0.0`;
}
