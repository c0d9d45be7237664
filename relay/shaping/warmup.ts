// IP warm-up: a new address's daily (and hourly) cap from its schedule, by the UTC day of its warm-up.
import type { Config } from "../../shared/config/schema.ts";

type Warmup = NonNullable<Config["pools"][string][number]["warmup"]>;
type Schedules = Config["warmupSchedules"];

export interface WarmupCap {
  day: number;
  perDay: number;
  perHour?: number | undefined;
}

/** The cap in force `now`, or undefined once the schedule is over (the address is warm) — or before it starts. */
export function warmupCap(warmup: Warmup, schedules: Schedules, now: number): WarmupCap | undefined {
  const steps = schedules[warmup.schedule];
  if (!steps) return undefined;
  const start = Date.parse(`${warmup.since}T00:00:00Z`);
  const day = Math.floor((now - start) / 86_400_000) + 1;
  if (day < 1) return { day, perDay: 0 }; // not started: the address sends nothing yet
  const sorted = [...steps].sort((a, b) => a.day - b.day);
  const last = sorted.at(-1)!;
  // Past the last step's day the address has finished its ramp: no cap.
  if (day > last.day) return undefined;
  const step = sorted.filter((s) => s.day <= day).at(-1) ?? sorted[0]!;
  return { day, perDay: step.perDay, perHour: step.perHour };
}
