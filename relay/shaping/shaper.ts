// Traffic shaping shared by every host through the Coordinator: connection budgets per destination, smoothed rates
// per zone, per destination and per local address × destination, back-off of an address a destination blocked,
// and IP warm-up caps. With the memory coordinator the same rules hold inside one process.
import type { Config } from "../../shared/config/schema.ts";
import type { Rate } from "../../shared/config/units.ts";
import type { Coordinator } from "../../shared/ports/coordinator.ts";
import { listSuspensions, type Suspension, suspend } from "../../shared/shaping/suspensions.ts";
import type { Destination } from "./destination.ts";
import { warmupCap } from "./warmup.ts";

type PoolEntry = Config["pools"][string][number];

export interface AddressChoice {
  /** Pool entries this delivery may use now, with their weights. */
  usable: PoolEntry[];
  /** When nothing is usable: why, and when to look again. */
  blockedReason?: string;
  retryAt?: number;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** A rate as a token bucket: refills continuously, bursts at most a tenth of the period's count (≥ 1). */
function bucketOf(rate: Rate) {
  const perSecond = (rate.count * 1000) / rate.perMs;
  return { rate: perSecond, burst: Math.max(1, Math.min(rate.count, Math.ceil(rate.count / 10))) };
}

export class Shaper {
  constructor(
    private readonly coordinator: Coordinator,
    private readonly config: Readonly<Config>,
  ) {}

  connectionKey(zone: string, destination: string) {
    return `conn|${zone}|${destination}`;
  }

  /**
   * Tokens for one message: the zone's rate, the destination's rate (per zone) and the address × destination
   * rate. Returns 0 when the message may go now, else how long to wait (nothing is taken then from later buckets).
   */
  async takeRate(zone: string, zoneRate: Rate | undefined, dest: Destination, localAddress: string): Promise<number> {
    const buckets: [string, Rate][] = [];
    if (zoneRate) buckets.push([`rate|zone|${zone}`, zoneRate]);
    if (dest.settings.throttling) buckets.push([`rate|dest|${zone}|${dest.key}`, dest.settings.throttling]);
    if (dest.settings.ipThrottling) buckets.push([`rate|ip|${localAddress}|${dest.key}`, dest.settings.ipThrottling]);
    for (const [key, rate] of buckets) {
      const result = await this.coordinator.take(key, bucketOf(rate));
      if (!result.ok) return Math.max(1, result.waitMs);
    }
    return 0;
  }

  /** The pool addresses a delivery to `dest` may use now: not disabled, not suspended, under their warm-up cap. */
  async chooseAddresses(pool: readonly PoolEntry[], dest: Destination, now: number): Promise<AddressChoice> {
    const disabled = new Set(dest.settings.disabledAddresses);
    const usable: PoolEntry[] = [];
    const reasons: string[] = [];
    let retryAt = Number.POSITIVE_INFINITY;
    const suspensions = await this.suspensions(dest.key);
    for (const entry of pool) {
      if (disabled.has(entry.address)) continue;
      const suspended = suspensions.find((s) => s.localAddress === entry.address);
      if (suspended) {
        reasons.push(`${entry.address} suspended (${suspended.reason})`);
        retryAt = Math.min(retryAt, suspended.expiresAt);
        continue;
      }
      const cap = entry.warmup ? warmupCap(entry.warmup, this.config.warmupSchedules, now) : undefined;
      if (cap) {
        const [day, hour] = await Promise.all([
          this.coordinator.count(`warm|${entry.address}`, DAY),
          cap.perHour ? this.coordinator.count(`warm|${entry.address}`, HOUR) : Promise.resolve(0),
        ]);
        if (day >= cap.perDay) {
          reasons.push(`${entry.address} reached its warm-up cap of ${cap.perDay}/day`);
          retryAt = Math.min(retryAt, Math.ceil((now + 1) / DAY) * DAY);
          continue;
        }
        if (cap.perHour && hour >= cap.perHour) {
          reasons.push(`${entry.address} reached its warm-up cap of ${cap.perHour}/hour`);
          retryAt = Math.min(retryAt, Math.ceil((now + 1) / HOUR) * HOUR);
          continue;
        }
      }
      usable.push(entry);
    }
    if (usable.length > 0) return { usable };
    if (reasons.length === 0) reasons.push(`every pool address is disabled for ${dest.key}`);
    return {
      usable,
      blockedReason: reasons.join("; "),
      retryAt: Number.isFinite(retryAt) ? retryAt : now + HOUR,
    };
  }

  /**
   * Reserves one message of a warming address's caps before sending — counting first and checking the result is
   * what keeps concurrent lanes on many hosts from overshooting. False: the cap is reached, choose another address.
   */
  async reserveWarmup(entry: PoolEntry, now: number): Promise<boolean> {
    const cap = entry.warmup ? warmupCap(entry.warmup, this.config.warmupSchedules, now) : undefined;
    if (!cap) return true;
    const [day, hour] = await Promise.all([
      this.coordinator.increment(`warm|${entry.address}`, 1, DAY),
      this.coordinator.increment(`warm|${entry.address}`, 1, HOUR),
    ]);
    return day <= cap.perDay && (!cap.perHour || hour <= cap.perHour);
  }

  /** Messages a warming address has reserved in the current UTC day and hour, across all hosts. */
  async warmupSent(address: string): Promise<{ day: number; hour: number }> {
    const [day, hour] = await Promise.all([
      this.coordinator.count(`warm|${address}`, DAY),
      this.coordinator.count(`warm|${address}`, HOUR),
    ]);
    return { day, hour };
  }

  /** Rests an address for a destination that blocked or throttled it; the rest of the pool carries on. */
  suspend(localAddress: string, destination: string, reason: string, ttlMs = this.config.blacklist.ttl) {
    return suspend(this.coordinator, { localAddress, destination, reason, ttlMs });
  }

  suspensions(destination?: string): Promise<Suspension[]> {
    return listSuspensions(this.coordinator, destination);
  }
}

/** Weighted random choice among usable pool entries (weights default to 1). */
export function pickWeighted<T extends { weight?: number }>(
  entries: readonly T[],
  random = Math.random,
): T | undefined {
  const total = entries.reduce((sum, e) => sum + (e.weight ?? 1), 0);
  let point = random() * total;
  for (const entry of entries) {
    point -= entry.weight ?? 1;
    if (point < 0) return entry;
  }
  return entries.at(-1);
}
