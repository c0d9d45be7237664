// Read-only views for operators: "why is this queue slow" (the limits in force for a zone and destination, the rule
// that set each, suspensions, warm-up, last replies), warm-up progress, the config with secrets hidden, the audit.
import { Hono } from "hono";
import { destinationOf } from "../../relay/shaping/destination.ts";
import { Shaper } from "../../relay/shaping/shaper.ts";
import { warmupCap } from "../../relay/shaping/warmup.ts";
import { redact } from "../../shared/config/redact.ts";
import type { Config } from "../../shared/config/schema.ts";
import type { Rate } from "../../shared/config/units.ts";
import { MailError } from "../../shared/errors.ts";
import { listSuspensions } from "../../shared/shaping/suspensions.ts";
import type { ApiEnv, AppDeps } from "../app-env.ts";
import { operatorOnly } from "../operator.ts";
import { presentDelivery } from "./queue.ts";

const iso = (ms: number) => new Date(ms).toISOString();
const PERIODS: [number, string][] = [
  [1000, "second"],
  [60_000, "minute"],
  [3_600_000, "hour"],
  [86_400_000, "day"],
];

/** "600 messages/minute", as the config said it. */
export function formatRate(rate: Rate | undefined): string | null {
  if (!rate) return null;
  const unit = PERIODS.find(([ms]) => ms === rate.perMs)?.[1];
  return unit ? `${rate.count} messages/${unit}` : `${rate.count} messages/${rate.perMs} ms`;
}

export function insightRoutes(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  // Mounted at /v1: each route carries its own guard (a `*` guard here would cover every /v1 route).
  const guard = operatorOnly("Operator views");

  app.get("/queue/diagnose", guard, async (c) => {
    const { config, coordinator } = deps;
    const zoneName = c.req.query("zone") || "default";
    const zone = config.zones[zoneName];
    if (!zone) throw new MailError("invalid-request", `No zone named ${JSON.stringify(zoneName)}`, "zone");
    const domain = c.req.query("domain")?.toLowerCase() || undefined;
    const findings: string[] = [];
    const counts = deps.ops ? (await deps.ops.counts()).filter((n) => n.zone === zoneName) : [];
    const depth = Object.fromEntries(counts.map((n) => [n.state, n.count]));

    const zoneView = {
      name: zoneName,
      pool: zone.pool,
      connections: { limit: zone.connections, rule: `zones.${zoneName}.connections` },
      throttling: { rate: formatRate(zone.throttling), rule: zone.throttling ? `zones.${zoneName}.throttling` : null },
      queue: { queued: depth.queued ?? 0, deferred: depth.deferred ?? 0, held: depth.held ?? 0 },
    };
    if (zone.throttling)
      findings.push(`The zone sends at most ${formatRate(zone.throttling)} (zones.${zoneName}.throttling).`);
    if ((depth.held ?? 0) > 0) findings.push(`${depth.held} deliveries are on hold: release them to send.`);

    let destinationView: Record<string, unknown> | undefined;
    const destinationKey = c.req.query("destination")?.toLowerCase() || domain;
    if (destinationKey) {
      const dest = destinationOf(destinationKey, [], config);
      const rule = config.domainConfig[dest.key]
        ? `domainConfig.${dest.key}`
        : config.domainConfig.default
          ? "domainConfig.default"
          : undefined;
      /** Where a destination setting came from: its own entry, `default`, or the built-in value. */
      const ruleOf = (key: string) => (rule ? `${rule}.${key}` : "built-in default");
      const shaper = coordinator ? new Shaper(coordinator, config) : undefined;
      const open = coordinator ? await coordinator.slotCount(shaper!.connectionKey(zoneName, dest.key)) : null;
      // The deferral-rate slow-down flag the lanes set (relay/sender/lane.ts, `slow|<destination>`).
      const slow = coordinator ? ((await coordinator.getFlag(`slow|${dest.key}`)) ?? null) : null;
      destinationView = {
        key: dest.key,
        maxConnections: {
          limit: slow ? 1 : dest.settings.maxConnections,
          rule: slow ? "slowed down" : ruleOf("maxConnections"),
        },
        openConnections: open,
        throttling: {
          rate: formatRate(dest.settings.throttling),
          rule: dest.settings.throttling ? ruleOf("throttling") : null,
        },
        ipThrottling: {
          rate: formatRate(dest.settings.ipThrottling),
          rule: dest.settings.ipThrottling ? ruleOf("ipThrottling") : null,
        },
        disabledAddresses: dest.settings.disabledAddresses,
        slowedDown: slow,
      };
      if (open !== null && open >= dest.settings.maxConnections) {
        findings.push(
          `All ${dest.settings.maxConnections} connections to ${dest.key} are in use (${ruleOf("maxConnections")}).`,
        );
      }
      if (slow) findings.push(`${dest.key} is slowed down to one connection after many deferrals: ${slow}.`);
      if (dest.settings.throttling)
        findings.push(
          `${dest.key} takes at most ${formatRate(dest.settings.throttling)} per zone (${ruleOf("throttling")}).`,
        );
      if (config.mxRollup && !config.domainConfig[destinationKey]) {
        findings.push(
          `With mxRollup, ${destinationKey} may share its MX provider's budget: ask again with ?destination=<provider>.`,
        );
      }
    }

    const pool = config.pools[zone.pool] ?? [];
    const suspensions = coordinator
      ? (
          await listSuspensions(coordinator, destinationKey ? destinationOf(destinationKey, [], config).key : undefined)
        ).filter((s) => pool.some((p) => p.address === s.localAddress))
      : [];
    for (const s of suspensions) findings.push(`${s.localAddress} is suspended for ${s.destination}: ${s.reason}`);
    const warmup = await warmupOf(deps, pool);
    for (const w of warmup) {
      if (!w.warm && w.sentToday >= (w.perDay ?? Number.POSITIVE_INFINITY)) {
        findings.push(`${w.address} reached its warm-up cap of ${w.perDay} today.`);
      }
    }
    const lastReplies = deps.ops
      ? (
          await deps.ops.list(
            { zone: zoneName, ...(domain ? { domain } : {}), state: ["deferred", "held"] },
            { limit: 10 },
          )
        ).items.map(presentDelivery)
      : [];
    if (findings.length === 0) findings.push("No limit is holding this queue back right now.");
    return c.json({
      zone: zoneView,
      ...(destinationView ? { destination: destinationView } : {}),
      suspensions: suspensions.map((s) => ({ ...s, expiresAt: iso(s.expiresAt) })),
      warmup,
      lastReplies,
      findings,
    });
  });

  app.get("/warmup", guard, async (c) => {
    const entries = Object.entries(deps.config.pools).flatMap(([pool, list]) => list.map((e) => ({ pool, ...e })));
    return c.json({ addresses: await warmupOf(deps, entries) });
  });

  app.get("/config", guard, (c) => c.json(redact(deps.config)));

  app.get("/audit", guard, async (c) => {
    if (!deps.ops) throw new MailError("not-found", "This queue backend keeps no audit trail");
    const limit = Math.min(500, Math.max(1, Number(c.req.query("limit") ?? 50) || 50));
    const cursor = c.req.query("cursor");
    const page = await deps.ops.listAudit({ limit, ...(cursor ? { cursor } : {}) });
    return c.json({
      entries: page.items.map((e) => ({ ...e, at: iso(e.at) })),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    });
  });

  return app;
}

type PoolEntry = Config["pools"][string][number] & { pool?: string };

/** Warm-up state of pool addresses that have a schedule. */
async function warmupOf(deps: AppDeps, entries: readonly PoolEntry[]) {
  const now = deps.clock.now();
  const shaper = deps.coordinator ? new Shaper(deps.coordinator, deps.config) : undefined;
  const out = [];
  for (const e of entries) {
    if (!e.warmup) continue;
    const cap = warmupCap(e.warmup, deps.config.warmupSchedules, now);
    const sent = shaper ? await shaper.warmupSent(e.address) : { day: 0, hour: 0 };
    out.push({
      ...(e.pool ? { pool: e.pool } : {}),
      address: e.address,
      since: e.warmup.since,
      schedule: e.warmup.schedule,
      warm: cap === undefined,
      day: cap?.day ?? null,
      perDay: cap?.perDay ?? null,
      perHour: cap?.perHour ?? null,
      sentToday: sent.day,
      sentThisHour: sent.hour,
    });
  }
  return out;
}
