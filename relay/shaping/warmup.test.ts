import { describe, expect, it } from "vitest";
import { warmupCap } from "./warmup.ts";

const schedules = {
  default: [
    { day: 1, perDay: 50 },
    { day: 3, perDay: 200, perHour: 20 },
    { day: 10, perDay: 5000 },
  ],
};
const at = (iso: string) => Date.parse(iso);

describe("warm-up caps", () => {
  it("follows the schedule by UTC day of the warm-up", () => {
    const warmup = { since: "2026-11-01", schedule: "default" };
    expect(warmupCap(warmup, schedules, at("2026-11-01T00:00:00Z"))).toMatchObject({ day: 1, perDay: 50 });
    expect(warmupCap(warmup, schedules, at("2026-11-02T23:59:59Z"))).toMatchObject({ day: 2, perDay: 50 });
    expect(warmupCap(warmup, schedules, at("2026-11-03T08:00:00Z"))).toEqual({ day: 3, perDay: 200, perHour: 20 });
    expect(warmupCap(warmup, schedules, at("2026-11-10T08:00:00Z"))).toMatchObject({ day: 10, perDay: 5000 });
  });
  it("lifts the cap after the last step, and sends nothing before the first day", () => {
    const warmup = { since: "2026-11-01", schedule: "default" };
    expect(warmupCap(warmup, schedules, at("2026-11-11T00:00:00Z"))).toBeUndefined();
    expect(warmupCap(warmup, schedules, at("2026-10-31T12:00:00Z"))).toMatchObject({ perDay: 0 });
  });
});
