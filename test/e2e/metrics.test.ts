// Prometheus metrics and delivery logs after a known workload through a real relay, sink and DNS server: every
// counter and gauge is read back from GET /metrics as a scraper would.
import { afterEach, describe, expect, it } from "vitest";
import { smtpTalk } from "../support/smtp-talk.ts";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The text exposition format, one sample per line (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `match`. */
function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

const today = new Date().toISOString().slice(0, 10);

describe("Prometheus metrics at /metrics", () => {
  it("counts a known workload: accepted, delivered, deferred, bounced, latency, intake, backends, depth, suspensions, warm-up", async () => {
    const logs: Record<string, unknown>[] = [];
    world = await startWorld({
      logs: (line) => logs.push(JSON.parse(line)),
      sink: {
        // A blocklist reply for one recipient: the relay suspends the local address for b.test.
        rcptReply: (rcpt) =>
          rcpt.startsWith("listed") ? { code: 554, message: "5.7.1 blocked using Spamhaus" } : undefined,
      },
      relay: {
        pools: {
          default: [
            { address: "127.0.0.2", name: "out1.zonerelay.test" },
            { address: "127.0.0.3", name: "out2.zonerelay.test", warmup: { since: today } },
          ],
        },
        // a.test keeps its own label; the bound is 1 more: b.test is seen next, sender.test is "other".
        metrics: { destinations: ["a.test"], destinationLabels: 1 },
        smtpInterfaces: { feeder: { maxRecipients: 2 } },
      },
    });
    const { relay, sink } = world;
    const send = (to: string) =>
      sendSmtp(
        relay.smtpPort,
        { from: "app@sender.test", to: [to] },
        rfc822({ From: "app@sender.test", To: to, Subject: "m" }),
      );
    const ok1 = await send("one@a.test");
    const ok2 = await send("two@a.test");
    const retried = await send("tempfail-once@a.test");
    const bounced = await send("permfail@b.test");
    const blocked = await send("listed@b.test");
    // One refusal at intake: a third recipient where two are allowed.
    const talk = await smtpTalk(relay.smtpPort);
    await talk.send("EHLO client.test");
    await talk.send("MAIL FROM:<app@sender.test>");
    expect(await talk.send("RCPT TO:<x1@a.test>")).toMatch(/^250/);
    expect(await talk.send("RCPT TO:<x2@a.test>")).toMatch(/^250/);
    expect(await talk.send("RCPT TO:<x3@a.test>")).toMatch(/^452/);
    await talk.send("QUIT");
    talk.close();
    // A message for later, held by an operator.
    const later = await fetch(`${relay.apiUrl}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        from: "app@sender.test",
        to: "later@a.test",
        text: "x",
        sendAt: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    });
    const laterId = ((await later.json()) as { id: string }).id;
    await fetch(`${relay.apiUrl}/v1/queue/hold`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ids: [laterId] }),
    });

    for (const id of [ok1, ok2, retried]) await relay.waitForStates(id, ["delivered"]);
    await relay.waitForStates(bounced, ["bounced"]);
    await sink.waitForMessages(4); // 3 deliveries + the DSN of the bounce
    const deadline = Date.now() + 15_000;
    let samples: Sample[] = [];
    // The DSN's own delivery and the blocked recipient's suspension settle asynchronously.
    while (Date.now() < deadline) {
      const res = await fetch(`${relay.apiUrl}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      samples = parseMetrics(await res.text());
      const settled =
        sum(samples, "zonerelay_delivery_latency_seconds_count") >= 4 && sum(samples, "zonerelay_suspensions") >= 1;
      if (settled) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const status = await relay.status(blocked);
    expect(status.deliveries[0]!.state).toBe("deferred");

    // Intake
    expect(sum(samples, "zonerelay_messages_accepted_total", { interface: "feeder" })).toBe(5);
    expect(sum(samples, "zonerelay_messages_accepted_total", { interface: "api" })).toBe(1);
    expect(sum(samples, "zonerelay_messages_accepted_total", { interface: "bounces" })).toBe(1);
    expect(sum(samples, "zonerelay_deliveries_accepted_total", { zone: "default", destination: "a.test" })).toBe(4);
    expect(sum(samples, "zonerelay_smtp_sessions_total", { interface: "feeder" })).toBeGreaterThanOrEqual(6);
    expect(sum(samples, "zonerelay_smtp_rejects_total", { interface: "feeder", reason: "too-many-recipients" })).toBe(
      1,
    );

    // Attempts by outcome, zone, local IP and bounded destination
    const attempts = (match: Record<string, string>) => sum(samples, "zonerelay_delivery_attempts_total", match);
    expect(attempts({ destination: "a.test", outcome: "delivered" })).toBe(3);
    expect(attempts({ destination: "a.test", outcome: "deferred" })).toBe(1);
    expect(attempts({ destination: "b.test", outcome: "bounced" })).toBe(1);
    expect(attempts({ destination: "b.test", outcome: "deferred" })).toBeGreaterThanOrEqual(1);
    expect(attempts({ destination: "other", outcome: "delivered" })).toBe(1); // the DSN to sender.test
    const ips = new Set(
      samples
        .filter((s) => s.name === "zonerelay_delivery_attempts_total" && s.labels.outcome === "delivered")
        .map((s) => s.labels.local_ip),
    );
    for (const ip of ips) expect(["127.0.0.2", "127.0.0.3"]).toContain(ip);
    const destinations = new Set(samples.filter((s) => s.labels.destination).map((s) => s.labels.destination));
    expect([...destinations].sort()).toEqual(["a.test", "b.test", "other"]);

    // Accept → delivery latency: one observation per delivered delivery
    expect(sum(samples, "zonerelay_delivery_latency_seconds_count", { zone: "default" })).toBe(4);
    expect(sum(samples, "zonerelay_delivery_latency_seconds_bucket", { zone: "default", le: "+Inf" })).toBe(4);
    expect(sum(samples, "zonerelay_delivery_attempt_duration_seconds_count")).toBeGreaterThanOrEqual(6);

    // Backend latency, around the ports
    expect(
      sum(samples, "zonerelay_backend_operation_duration_seconds_count", {
        port: "queue",
        operation: "enqueue",
        result: "ok",
      }),
    ).toBe(7);
    expect(
      sum(samples, "zonerelay_backend_operation_duration_seconds_count", { port: "queue", operation: "lease" }),
    ).toBeGreaterThan(0);
    expect(
      sum(samples, "zonerelay_backend_operation_duration_seconds_count", { port: "bodyStore", operation: "put" }),
    ).toBe(7);

    // Gauges read at scrape time
    expect(sum(samples, "zonerelay_queue_deliveries", { zone: "default", state: "held" })).toBe(1);
    expect(sum(samples, "zonerelay_queue_deliveries", { zone: "default", state: "deferred" })).toBe(1);
    expect(sum(samples, "zonerelay_queue_deliveries", { zone: "default", state: "queued" })).toBe(0);
    expect(sum(samples, "zonerelay_suspensions")).toBeGreaterThanOrEqual(1);
    expect(sum(samples, "zonerelay_warmup_day", { local_ip: "127.0.0.3" })).toBe(1);
    expect(sum(samples, "zonerelay_warmup_cap_messages", { local_ip: "127.0.0.3", period: "day" })).toBe(50);
    // Every attempt from the warming address reserved one message of its cap first.
    expect(
      sum(samples, "zonerelay_warmup_sent_messages", { local_ip: "127.0.0.3", period: "day" }),
    ).toBeGreaterThanOrEqual(attempts({ local_ip: "127.0.0.3" }));
    expect(samples.some((s) => s.name === "zonerelay_warmup_day" && s.labels.local_ip === "127.0.0.2")).toBe(false);

    // Default process metrics
    expect(samples.some((s) => s.name === "process_cpu_user_seconds_total")).toBe(true);
    expect(samples.some((s) => s.name === "nodejs_eventloop_lag_seconds")).toBe(true);

    // One log line per attempt, with everything an operator greps for
    const lines = logs.filter((l) => l.msg === "delivery attempt");
    expect(lines.length).toBe(attempts({}));
    const delivered = lines.find((l) => l.msgId === ok1)!;
    expect(delivered).toMatchObject({ zone: "default", outcome: "delivered", mx: "mx.sink.test", level: 30 });
    expect(delivered.deliveryId).toEqual(expect.any(String));
    expect(["127.0.0.2", "127.0.0.3"]).toContain(delivered.localAddress);
    expect(String(delivered.response)).toMatch(/^250/);
    expect(delivered.durationMs).toEqual(expect.any(Number));
  });

  it("needs an unscoped API key when keys are configured, unless metrics.public", async () => {
    const { sha256Hex } = await import("../../functions/auth.ts");
    world = await startWorld({
      relay: {
        api: {
          keys: [
            { id: "ops", hash: `sha256:${sha256Hex("k-ops")}` },
            { id: "t", hash: `sha256:${sha256Hex("k-t")}`, zones: ["default"] },
          ],
        },
      },
    });
    const url = `${world.relay.apiUrl}/metrics`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: "Bearer k-t" } })).status).toBe(403);
    expect((await fetch(url, { headers: { authorization: "Bearer k-ops" } })).status).toBe(200);
  });
});
