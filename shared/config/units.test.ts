import { describe, expect, it } from "vitest";
import { parseDuration, parseRate, parseSize } from "./units.ts";

describe("config units", () => {
  it("parses durations in every unit", () => {
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("5m")).toBe(300_000);
    expect(parseDuration("2h")).toBe(7_200_000);
    expect(parseDuration("30d")).toBe(2_592_000_000);
    expect(parseDuration(1500)).toBe(1500);
  });
  it("parses sizes with binary multiples", () => {
    expect(parseSize("25MB")).toBe(26_214_400);
    expect(parseSize("512kb")).toBe(524_288);
    expect(parseSize("1GB")).toBe(1_073_741_824);
    expect(parseSize("100")).toBe(100);
  });
  it("rejects what it cannot read, naming the value", () => {
    expect(() => parseDuration("soon")).toThrow(/"soon" is not a duration/);
    expect(() => parseSize("big")).toThrow(/"big" is not a size/);
  });
});

describe("parseRate", () => {
  it("reads ZoneMTA's throttling strings", () => {
    expect(parseRate("100 messages/second")).toEqual({ count: 100, perMs: 1000 });
    expect(parseRate("5000/hour")).toEqual({ count: 5000, perMs: 3_600_000 });
    expect(parseRate("1 message / minute")).toEqual({ count: 1, perMs: 60_000 });
  });
  it("refuses what it cannot read, with an example", () => {
    expect(() => parseRate("fast")).toThrow(/examples/);
    expect(() => parseRate("0/second")).toThrow();
  });
});
