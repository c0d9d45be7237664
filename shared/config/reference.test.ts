import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configReferenceMarkdown, configReferenceRows } from "./reference.ts";

describe("config reference", () => {
  it("documents every key with a description", () => {
    const rows = configReferenceRows();
    expect(rows.map((r) => r.path)).toEqual(
      expect.arrayContaining([
        "smtpInterfaces.<name>.allowedNetworks",
        "queue.maxQueueTime",
        "zones.<name>.connectionCache.ttl",
        "dns.nameservers",
      ]),
    );
    expect(rows.filter((r) => !r.description).map((r) => r.path)).toEqual([]);
  });
  it("docs/config.md is what the schema generates (run `npm run docs:config`)", () => {
    expect(readFileSync(new URL("../../docs/config.md", import.meta.url), "utf8")).toBe(configReferenceMarkdown());
  });
});
