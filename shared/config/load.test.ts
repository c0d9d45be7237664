import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "./load.ts";

describe("config loading", () => {
  it("defaults to the embedded mode", () => {
    const cfg = parseConfig({});
    expect(cfg.smtpInterfaces.feeder).toMatchObject({ host: "127.0.0.1", port: 2525 });
    expect(cfg.api).toMatchObject({ host: "127.0.0.1", port: 12080 });
    expect(cfg.queue.maxQueueTime).toBe(30 * 24 * 3600 * 1000);
    expect(Object.keys(cfg.zones)).toEqual(["default"]);
    expect(Object.isFrozen(cfg.queue)).toBe(true);
  });

  it("reads YAML, parses human strings and applies env overrides", () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-cfg-"));
    const file = join(dir, "zonerelay.yaml");
    writeFileSync(file, "queue:\n  maxQueueTime: 2d\n  retrySchedule: [1s, 5m]\napi:\n  maxSize: 1MB\n");
    const cfg = loadConfig(file, { ZONERELAY__dns__nameservers: '["127.0.0.1:5353"]', LOG_LEVEL: "warn" });
    expect(cfg.queue.maxQueueTime).toBe(2 * 86_400_000);
    expect(cfg.queue.retrySchedule).toEqual([1000, 300_000]);
    expect(cfg.api.maxSize).toBe(1_048_576);
    expect(cfg.dns.nameservers).toEqual(["127.0.0.1:5353"]);
    expect(cfg.log.level).toBe("warn");
  });

  it("refuses unknown keys and bad values, naming every path", () => {
    let error: ConfigError | undefined;
    try {
      parseConfig({ qeueu: {}, zones: { default: { connections: 0, pool: "nope" } }, queue: { maxQueueTime: "soon" } });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = error!.problems.join("\n");
    expect(text).toMatch(/qeueu/);
    expect(text).toMatch(/zones\.default\.connections/);
    expect(text).toMatch(/queue\.maxQueueTime: "soon" is not a duration/);
  });

  it("requires a pool that exists and a default zone", () => {
    expect(() => parseConfig({ zones: { bulk: {} } })).toThrow(/zones: a zone named `default` is required/);
    expect(() => parseConfig({ zones: { default: { pool: "x" } } })).toThrow(/zones\.default\.pool: no pool named "x"/);
  });
});
