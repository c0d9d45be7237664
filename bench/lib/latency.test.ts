import { describe, expect, it } from "vitest";
import { LatencyHistogram } from "./latency.ts";

describe("latency histogram", () => {
  it("gives percentiles within 1% of the exact values", () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i / 10); // 0.1 … 100 ms
    expect(h.count).toBe(1000);
    expect(h.percentile(50)).toBeGreaterThanOrEqual(50);
    expect(h.percentile(50)).toBeLessThanOrEqual(50 * 1.01);
    expect(h.percentile(99)).toBeGreaterThanOrEqual(99);
    expect(h.percentile(99)).toBeLessThanOrEqual(99 * 1.01);
    expect(h.percentile(100)).toBe(100);
  });

  it("is 0 when nothing was recorded and never above the maximum", () => {
    const h = new LatencyHistogram();
    expect(h.percentile(99)).toBe(0);
    h.record(3.3);
    expect(h.percentile(50)).toBe(3.3);
    h.record(0);
    expect(h.percentile(1)).toBeLessThanOrEqual(0.01);
  });
});
