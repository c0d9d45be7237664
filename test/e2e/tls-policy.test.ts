// Outbound TLS policy end to end: MTA-STS policies served over HTTPS by a local server whose certificate comes from a
// test CA (trusted only through `tls.caFile`), `_mta-sts` TXT and MX records in the test DNS server, a real sink with
// or without STARTTLS; requireTLS zones. Under an enforced policy nothing is ever sent in plain text.
import { gunzipSync } from "node:zlib";
import { simpleParser } from "mailparser";
import { afterEach, describe, expect, it } from "vitest";
import type { TlsReport } from "../../relay/tls-policy/tls-rpt.ts";
import { runTlsReportsCli } from "../../relay/tls-reports-cli.ts";
import type { ConfigInput } from "../../shared/config/schema.ts";
import type { MessageStatus } from "../../shared/domain/envelope.ts";
import { type PolicyServer, policy, startPolicyServer } from "../support/mta-sts-server.ts";
import { assertRedisUp, REDIS_URL, uniquePrefix } from "../support/redis.ts";
import { deepMerge, startTestRelay } from "../support/relay.ts";
import type { SinkOptions } from "../support/smtp-sink.ts";
import { testCa } from "../support/test-ca.ts";
import { POOL, rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

let world: World | undefined;
let policies: PolicyServer | undefined;
afterEach(async () => {
  await world?.close();
  await policies?.close();
  world = undefined;
  policies = undefined;
});

const ca = testCa();
/** The MX host of sts.test, with a certificate from the test CA. */
const validMx = () => ({ tlsCert: ca.issue(["mx.sts.test"]) });

async function stsWorld(opts: {
  sink?: SinkOptions;
  relay?: ConfigInput;
  mode?: "enforce" | "testing";
  maxAge?: number;
}) {
  policies = await startPolicyServer(ca, ["sts.test"]);
  const port = policies.port;
  world = await startWorld({
    sink: opts.sink ?? validMx(),
    relay: deepMerge({ tls: { caFile: ca.caFile, mtaSts: { port } } }, (opts.relay ?? {}) as Record<string, unknown>),
  });
  world.dns.set("sts.test", { MX: [{ exchange: "mx.sts.test", priority: 10 }] });
  world.dns.set("mx.sts.test", { A: ["127.0.0.1"] });
  world.dns.set("mta-sts.sts.test", { A: ["127.0.0.1"] });
  world.dns.set("_mta-sts.sts.test", { TXT: ["v=STSv1; id=20261125a"] });
  if (opts.mode) policies.policies.set("sts.test", policy(opts.mode, ["mx.sts.test"], opts.maxAge));
  return world;
}

function send(w: World, to: string, subject = "TLS policy") {
  return sendSmtp(
    w.relay.smtpPort,
    { from: "app@sender.test", to: [to] },
    rfc822({ From: "app@sender.test", To: to, Subject: subject }),
  );
}

/** Deferred, and the sink still has only `received` messages after a few retries (the test schedule: every second). */
async function expectHeldBack(w: World, id: string, received = 0): Promise<MessageStatus> {
  await w.relay.waitForStates(id, ["deferred"]);
  await new Promise((r) => setTimeout(r, 2500));
  const status = await w.relay.status(id);
  expect(status.deliveries.map((d) => d.state)).toEqual(["deferred"]);
  expect(w.sink.messages).toHaveLength(received);
  return status;
}

type ApiAttempt = MessageStatus["deliveries"][number]["history"][number];

describe("MTA-STS (RFC 8461)", () => {
  it("enforce + a certificate valid for the MX host: delivered over verified TLS, policy and cipher in the timeline", async () => {
    const w = await stsWorld({ mode: "enforce" });
    const id = await send(w, "ann@sts.test");
    const [msg] = await w.sink.waitForMessages(1);
    expect(msg!.secure).toBe(true);
    const status = await w.relay.waitForStates(id, ["delivered"]);
    const attempt = status.deliveries[0]!.history[0]! as ApiAttempt;
    expect(attempt).toMatchObject({ tls: true, tlsPolicy: "mta-sts", mx: "mx.sts.test" });
    expect(attempt.tlsVersion).toMatch(/^TLSv1\.[23]$/);
    expect(attempt.tlsCipher).toMatch(/^TLS_/);
    expect(policies!.fetchesOf("sts.test")).toBe(1);
    const metrics = await (await fetch(`${w.relay.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /^zonerelay_tls_policy_attempts_total\{zone="default",policy="mta-sts",outcome="delivered"\} 1$/m,
    );
  });

  it("enforce + an MX without STARTTLS: deferred, never sent in plain text", async () => {
    const w = await stsWorld({ mode: "enforce", sink: {} });
    const id = await send(w, "bob@sts.test");
    const status = await expectHeldBack(w, id);
    expect(w.sink.connections).toBeGreaterThan(0);
    const history = status.deliveries[0]!.history;
    expect(history.length).toBeGreaterThanOrEqual(2);
    for (const a of history) {
      expect(a).toMatchObject({ outcome: "deferred", category: "tls", tlsPolicy: "mta-sts" });
      expect(a.response).toMatch(/STARTTLS/);
    }
  });

  it("enforce + a certificate not valid for the MX host (self-signed): deferred, never plain", async () => {
    const w = await stsWorld({ mode: "enforce", sink: { tls: true } });
    const id = await send(w, "carl@sts.test");
    const status = await expectHeldBack(w, id);
    expect(status.deliveries[0]!.history[0]!.response).toMatch(/certificate-(not-trusted|host-mismatch)/);
  });

  it("enforce + an MX host the policy does not name: deferred without connecting", async () => {
    const w = await stsWorld({});
    policies!.policies.set("sts.test", policy("enforce", ["*.elsewhere.test"]));
    const id = await send(w, "dora@sts.test");
    const status = await expectHeldBack(w, id);
    expect(w.sink.connections).toBe(0);
    expect(status.deliveries[0]!.history[0]!.response).toMatch(/not named by its MTA-STS policy/);
  });

  it("testing + a certificate that fails validation: delivered anyway (as without a policy)", async () => {
    const w = await stsWorld({ mode: "testing", sink: { tls: true } });
    const id = await send(w, "eve@sts.test");
    const [msg] = await w.sink.waitForMessages(1);
    expect(msg!.secure).toBe(true);
    const status = await w.relay.waitForStates(id, ["delivered"]);
    expect(status.deliveries[0]!.history[0]).toMatchObject({ tlsPolicy: "mta-sts-testing", tls: true });
  });

  it("caches the policy for max_age, fetches again when the TXT id changes, and applies the new policy", async () => {
    const w = await stsWorld({ mode: "enforce" });
    await w.relay.waitForStates(await send(w, "one@sts.test"), ["delivered"]);
    await w.relay.waitForStates(await send(w, "two@sts.test"), ["delivered"]);
    expect(policies!.fetchesOf("sts.test")).toBe(1);

    // A new policy that no longer names the MX host, announced by a new id.
    policies!.policies.set("sts.test", policy("enforce", ["mx.other.test"]));
    w.dns.set("_mta-sts.sts.test", { TXT: ["v=STSv1; id=20261125b"] });
    const held = await send(w, "three@sts.test");
    await w.relay.waitForStates(held, ["deferred"]);
    expect(policies!.fetchesOf("sts.test")).toBe(2);
    expect(w.sink.messages).toHaveLength(2);
  });

  it("shares the cached policy between hosts through Redis: the second host fetches nothing", async () => {
    await assertRedisUp();
    const redis = { dbs: { redis: REDIS_URL, redisPrefix: uniquePrefix("sts") } };
    const w = await stsWorld({ mode: "enforce", relay: redis });
    await w.relay.waitForStates(await send(w, "one@sts.test"), ["delivered"]);
    const second = await startTestRelay({
      ...redis,
      dns: { nameservers: [w.dns.nameserver], timeout: "2s" },
      pools: { default: POOL },
      zones: { default: { port: w.sink.port } },
      tls: { caFile: ca.caFile, mtaSts: { port: policies!.port } },
    });
    try {
      const id = await sendSmtp(
        second.smtpPort,
        { from: "app@sender.test", to: ["two@sts.test"] },
        rfc822({ Subject: "h2" }),
      );
      const status = await second.waitForStates(id, ["delivered"]);
      expect(status.deliveries[0]!.history[0]!.tlsPolicy).toBe("mta-sts");
      expect(policies!.fetchesOf("sts.test")).toBe(1);
    } finally {
      await second.cleanup();
    }
  });

  it("refreshes a policy in the background once past half its max_age", async () => {
    const w = await stsWorld({ mode: "enforce", maxAge: 4 });
    await w.relay.waitForStates(await send(w, "one@sts.test"), ["delivered"]);
    expect(policies!.fetchesOf("sts.test")).toBe(1);
    await new Promise((r) => setTimeout(r, 2300));
    await w.relay.waitForStates(await send(w, "two@sts.test"), ["delivered"]);
    const deadline = Date.now() + 5000;
    while (policies!.fetchesOf("sts.test") < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(policies!.fetchesOf("sts.test")).toBe(2);
  });

  it("keeps applying a cached policy when the TXT record disappears (RFC 8461 §5.1)", async () => {
    const w = await stsWorld({ mode: "enforce" });
    await w.relay.waitForStates(await send(w, "one@sts.test"), ["delivered"]);
    w.dns.set("_mta-sts.sts.test", {});
    policies!.policies.delete("sts.test");
    // An attacker's MX: the cached policy does not name it, so nothing goes there.
    w.dns.set("sts.test", { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
    const held = await send(w, "two@sts.test");
    const status = await expectHeldBack(w, held, 1);
    expect(status.deliveries[0]!.history[0]!.response).toMatch(/not named by its MTA-STS policy/);
  });
});

describe("requireTLS", () => {
  it("a requireTLS zone defers when the MX offers no STARTTLS — never plain — and delivers over verified TLS", async () => {
    const w = await stsWorld({ sink: {}, relay: { zones: { default: { requireTLS: true } } } });
    const id = await send(w, "fay@a.test");
    const status = await expectHeldBack(w, id);
    expect(status.deliveries[0]!.history[0]).toMatchObject({ tlsPolicy: "require-tls", category: "tls" });
    await w.close();
    await policies!.close();

    const v = await stsWorld({ relay: { zones: { default: { requireTLS: true } } } });
    const ok = await send(v, "gus@sts.test");
    const [msg] = await v.sink.waitForMessages(1);
    expect(msg!.secure).toBe(true);
    const delivered = await v.relay.waitForStates(ok, ["delivered"]);
    expect(delivered.deliveries[0]!.history[0]).toMatchObject({ tlsPolicy: "require-tls", tls: true });
  });

  it("domainConfig.<domain>.requireTLS applies to that domain only", async () => {
    const w = await stsWorld({ sink: {}, relay: { domainConfig: { "b.test": { requireTLS: true } } } });
    const open = await send(w, "hal@a.test");
    const strict = await send(w, "ida@b.test");
    await w.relay.waitForStates(open, ["delivered"]);
    const status = await expectHeldBack(w, strict, 1);
    expect(status.deliveries[0]!.history[0]!.tlsPolicy).toBe("require-tls");
    expect(w.sink.messages.map((m) => m.to[0])).toEqual(["hal@a.test"]);
  });
});

describe("TLS-RPT (RFC 8460)", () => {
  it("counts sessions by policy and result, and sends the day's report by mail and HTTPS where _smtp._tls asks", async () => {
    const w = await stsWorld({
      mode: "testing",
      sink: { tls: true },
      // One message per connection, so the two messages below are two sessions (a lane keeps its connection).
      relay: {
        tls: { reports: { enabled: true, organizationName: "ZoneRelay Test" } },
        zones: { default: { connectionCache: { reuseCount: 1 } } },
      },
    });
    const upload = `https://mta-sts.sts.test:${policies!.port}/tlsrpt`;
    w.dns.set("_smtp._tls.sts.test", { TXT: [`v=TLSRPTv1; rua=mailto:tlsrpt@sender.test,${upload}`] });
    // Two sessions that fail validation under a testing policy: both delivered, both reported.
    await w.relay.waitForStates(await send(w, "one@sts.test"), ["delivered"]);
    await w.relay.waitForStates(await send(w, "two@sts.test"), ["delivered"]);
    const day = new Date().toISOString().slice(0, 10);

    const preview = (await (await fetch(`${w.relay.apiUrl}/v1/tls-reports?day=${day}`)).json()) as {
      reports: { domain: string; rua: string[]; report: TlsReport }[];
    };
    const mine = preview.reports.find((r) => r.domain === "sts.test")!;
    expect(mine.rua).toEqual(["mailto:tlsrpt@sender.test", upload]);
    const [p] = mine.report.policies;
    expect(p!.policy).toMatchObject({ "policy-type": "sts", "policy-domain": "sts.test", "mx-host": ["mx.sts.test"] });
    expect(p!.policy["policy-string"]).toContain("mode: testing");
    expect(p!.summary).toEqual({ "total-successful-session-count": 0, "total-failure-session-count": 2 });
    // One row per distinct detail: the two sessions may have left from different pool addresses.
    const details = p!["failure-details"];
    expect(details.reduce((n, d) => n + d["failed-session-count"], 0)).toBe(2);
    for (const d of details) {
      expect(d).toMatchObject({ "receiving-mx-hostname": "mx.sts.test", "receiving-ip": "127.0.0.1" });
      expect(d["result-type"]).toMatch(/^certificate-(not-trusted|host-mismatch)$/);
      expect(["127.0.0.2", "127.0.0.3"]).toContain(d["sending-mta-ip"]);
    }
    expect(mine.report["organization-name"]).toBe("ZoneRelay Test");
    expect(mine.report["date-range"]).toEqual({
      "start-datetime": `${day}T00:00:00Z`,
      "end-datetime": `${day}T23:59:59Z`,
    });

    // `zonerelay tls-reports send` goes through the same API.
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), env: {} };
    expect(await runTlsReportsCli(["send", "--day", day, "--api", w.relay.apiUrl], io)).toBe(0);
    const sent = JSON.parse(out.join("\n")) as { reports: { domain: string; sent: string[]; errors: string[] }[] };
    expect(sent.reports.find((r) => r.domain === "sts.test")).toMatchObject({ sent: mine.rua, errors: [] });

    // HTTPS: one gzipped JSON upload.
    expect(policies!.uploads).toHaveLength(1);
    expect(policies!.uploads[0]!.contentType).toBe("application/tlsrpt+gzip");
    expect(JSON.parse(gunzipSync(policies!.uploads[0]!.body).toString())).toEqual(mine.report);

    // Mail: through the normal pipeline to sender.test's MX (the sink), as multipart/report; report-type=tlsrpt.
    const messages = await w.sink.waitForMessages(3);
    const mail = messages.find((m) => m.to[0] === "tlsrpt@sender.test")!;
    const parsed = await simpleParser(mail.raw);
    expect(parsed.headers.get("content-type")).toMatchObject({
      value: "multipart/report",
      params: { "report-type": "tlsrpt" },
    });
    expect(parsed.headers.get("tls-report-domain")).toBe("sts.test");
    expect(parsed.subject).toMatch(/^Report Domain: sts\.test Submitter: ZoneRelay Test Report-ID: </);
    const attachment = parsed.attachments.find((a) => a.contentType === "application/tlsrpt+gzip")!;
    expect(attachment.filename).toMatch(/^relay\.zonerelay\.test!sts\.test!\d+!\d+\.json\.gz$/);
    expect(JSON.parse(gunzipSync(attachment.content).toString())).toEqual(mine.report);
  });
});
