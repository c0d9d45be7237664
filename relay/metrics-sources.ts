// What a relay host feeds its Prometheus registry: gauges read from the backends at scrape time (queue depth,
// suspensions, warm-up) and the intake's accepted counts. The metrics themselves live in shared/observability.
import type { Config } from "../shared/config/schema.ts";
import type { Submit } from "../shared/intake/submit-types.ts";
import type { Metrics } from "../shared/observability/metrics.ts";
import type { Clock } from "../shared/ports/clock.ts";
import type { Coordinator } from "../shared/ports/coordinator.ts";
import type { QueueOps } from "../shared/ports/queue-ops.ts";
import { listSuspensions } from "../shared/shaping/suspensions.ts";
import { Shaper } from "./shaping/shaper.ts";
import { warmupCap } from "./shaping/warmup.ts";

const OPEN_STATES = ["queued", "deferred", "held"] as const;

export function addRelayCollectors(
  metrics: Metrics,
  deps: { ops?: QueueOps | undefined; coordinator: Coordinator; config: () => Readonly<Config>; clock: Clock },
) {
  const { ops, coordinator } = deps;
  if (ops) {
    metrics.addCollector("queue", async () => {
      const counts = await ops.counts();
      metrics.queueDepth.reset();
      // Every zone and state has a series, zero included, so dashboards and alerts never see gaps.
      for (const zone of Object.keys(deps.config().zones)) {
        for (const state of OPEN_STATES) metrics.queueDepth.set({ zone, state }, 0);
      }
      for (const c of counts) metrics.queueDepth.set({ zone: c.zone, state: c.state }, c.count);
    });
  }

  metrics.addCollector("suspensions", async () => {
    const list = await listSuspensions(coordinator);
    metrics.suspensions.reset();
    for (const entries of Object.values(deps.config().pools)) {
      for (const e of entries) metrics.suspensions.set({ local_ip: e.address }, 0);
    }
    const byIp = new Map<string, number>();
    for (const s of list) byIp.set(s.localAddress, (byIp.get(s.localAddress) ?? 0) + 1);
    for (const [ip, n] of byIp) metrics.suspensions.set({ local_ip: ip }, n);
  });

  metrics.addCollector("warmup", async () => {
    const config = deps.config();
    const shaper = new Shaper(coordinator, config);
    const now = deps.clock.now();
    const warming = new Map<string, NonNullable<ReturnType<typeof warmupCap>>>();
    for (const entries of Object.values(config.pools)) {
      for (const e of entries) {
        const cap = e.warmup ? warmupCap(e.warmup, config.warmupSchedules, now) : undefined;
        if (cap) warming.set(e.address, cap);
      }
    }
    const sent = await Promise.all([...warming.keys()].map((ip) => shaper.warmupSent(ip)));
    metrics.warmupDay.reset();
    metrics.warmupCap.reset();
    metrics.warmupSent.reset();
    [...warming].forEach(([ip, cap], i) => {
      metrics.warmupDay.set({ local_ip: ip }, cap.day);
      metrics.warmupCap.set({ local_ip: ip, period: "day" }, cap.perDay);
      if (cap.perHour) metrics.warmupCap.set({ local_ip: ip, period: "hour" }, cap.perHour);
      metrics.warmupSent.set({ local_ip: ip, period: "day" }, sent[i]!.day);
      metrics.warmupSent.set({ local_ip: ip, period: "hour" }, sent[i]!.hour);
    });
  });
}

/** Counts what the submit pipeline accepted (a repeated Idempotency-Key queues nothing, so it is not counted). */
export function countingSubmit(submit: Submit, metrics: Metrics | undefined): Submit {
  if (!metrics) return submit;
  return async (input) => {
    const result = await submit(input);
    if (!result.duplicate) metrics.recordAccepted({ interface: input.source.name, deliveries: result.deliveries });
    return result;
  };
}
