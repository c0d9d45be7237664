import { describe, expect, it } from "vitest";
import { parseConfig, readConfigFile } from "../../shared/config/load.ts";
import { hostSlots } from "./addresses.ts";
import { type Deployment, intakeConfig, relayConfig } from "./host-config.ts";
import { bucketLifecycle } from "./lifecycle.ts";
import { parseStackSettings, readStackSettings } from "./settings.ts";
import { zoneQueuePlan } from "./zones.ts";

const stack = parseStackSettings({});

describe("per-zone queues", () => {
  it("are named as the sqs queue adapter names them, with a dead-letter queue and a backlog threshold each", () => {
    const config = parseConfig({
      aws: { queuePrefix: "zr-prod" },
      zones: { default: { connections: 20 }, "bulk mail": { connections: 5 } },
    });
    expect(zoneQueuePlan(config, stack)).toEqual([
      { zone: "default", queueName: "zr-prod-default", dlqName: "zr-prod-default-dlq", scaleOutAt: 4000 },
      {
        zone: "bulk mail",
        queueName: expect.stringMatching(/^zr-prod-bulk_mail-[0-9a-f]{10}$/),
        dlqName: expect.stringMatching(/^zr-prod-bulk_mail-[0-9a-f]{10}-dlq$/),
        scaleOutAt: 1000,
      },
    ]);
  });
});

describe("bucket lifecycle", () => {
  it("expires bodies after the queue time plus a margin, uploads after a day, status history after its retention", () => {
    const rules = bucketLifecycle(parseConfig({}), stack);
    expect(rules).toEqual([
      { id: "abort-incomplete-uploads", prefix: "", abortIncompleteUploadsDays: 1 },
      { id: "bodies", prefix: "bodies/", expireDays: 37 },
      { id: "uploads", prefix: "uploads/", expireDays: 1 },
      { id: "status-messages", prefix: "status/messages/", expireDays: 60 },
      { id: "status-deliveries", prefix: "status/deliveries/", expireDays: 60 },
      { id: "status-done", prefix: "status/done/", expireDays: 60 },
      { id: "status-cancelled", prefix: "status/cancelled/", expireDays: 60 },
      { id: "status-idempotency", prefix: "status/idempotency/", expireDays: 60 },
    ]);
    // The GC's own index is never expired under it.
    expect(rules.some((r) => /finished|status\/bodies/.test(r.prefix))).toBe(false);
  });

  it("refuses a status retention that a queued message could outlive, and overlapping prefixes", () => {
    expect(() => bucketLifecycle(parseConfig({ queue: { maxQueueTime: "60d" } }), stack)).toThrow(
      /statusRetentionDays/,
    );
    expect(() => bucketLifecycle(parseConfig({ uploads: { prefix: "bodies/up/" } }), stack)).toThrow(/overlap/);
  });
});

describe("the configs handed to the intake and the relay hosts", () => {
  const deployment: Deployment = {
    region: "eu-west-1",
    bucket: "zonerelay-prod-bodies",
    queuePrefix: "zonerelay-prod",
    redisUrl: "rediss://default:secret@redis.internal:6379",
    apiKeys: [{ id: "app", hash: `sha256:${"a".repeat(64)}` }],
    dkimKeys: [{ domain: "example.com", selector: "s1", privateKey: "-----BEGIN PRIVATE KEY-----\n…" }],
  };
  const raw = readConfigFile("deploy/zonerelay.yaml");

  it("the shipped example plans cleanly for the shipped stack settings", () => {
    const settings = readStackSettings({});
    const config = parseConfig(raw);
    expect(hostSlots(config, settings)).toHaveLength(settings.relayHosts.max);
    expect(zoneQueuePlan(config, settings).map((z) => z.zone)).toEqual(["default", "bulk"]);
    expect(bucketLifecycle(config, settings).length).toBeGreaterThan(3);
  });

  it("give both roles the same zones and backends; each relay host only its own addresses", () => {
    const config = parseConfig(raw);
    const slots = hostSlots(config, stack);
    const intake = parseConfig(intakeConfig(raw, deployment));
    const relay = parseConfig(relayConfig(raw, deployment, slots[1]!));
    for (const c of [intake, relay]) {
      expect(Object.keys(c.zones)).toEqual(Object.keys(config.zones));
      expect(c.queue.backend).toBe("sqs");
      expect(c.aws).toMatchObject({
        region: "eu-west-1",
        bucket: "zonerelay-prod-bodies",
        queuePrefix: "zonerelay-prod",
      });
      expect(c.api.keys.map((k) => k.id)).toEqual(["app"]);
      expect(c.dkim.keys.map((k) => k.selector)).toEqual(["s1"]);
      expect(c.dbs.redis).toBe(deployment.redisUrl);
    }
    expect(intake.smtpInterfaces).toEqual({});
    expect(relay.pools.default!.map((p) => p.address)).toEqual(["10.64.10.11"]);
    expect(relay.pools.bulk!.map((p) => p.address)).toEqual(["10.64.10.21"]);
    expect(relay.api).toMatchObject({ host: "0.0.0.0", port: 12080 });
    expect(relay.metrics.public).toBe(true);
  });

  it("refuses a deployment whose secrets do not validate (a bad key hash fails the deploy, not the host)", () => {
    expect(() => intakeConfig(raw, { ...deployment, apiKeys: [{ id: "app", hash: "plain-key" }] })).toThrow(
      /api\.keys\.0\.hash/,
    );
  });
});
