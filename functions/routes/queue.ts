// Queue operations for operators (Postfix's mailq / postqueue / postsuper over HTTP): list and count deliveries,
// retry now, hold and release, delete (bounce with a DSN, or drop), flush a domain. Every change is audited.
import { type Context, Hono } from "hono";
import { z } from "zod";
import { parseDuration } from "../../shared/config/units.ts";
import { MailError } from "../../shared/errors.ts";
import {
  type DeliveryFilter,
  OPEN_OPS_STATES,
  OPS_STATES,
  type OpsDelivery,
  type QueueOps,
} from "../../shared/ports/queue-ops.ts";
import type { ApiEnv, AppDeps } from "../app-env.ts";
import { audit, operatorOnly } from "../operator.ts";
import { readJsonBody } from "../request-body.ts";

const MAX_PAGE = 500;
const DEFAULT_PAGE = 50;
/** Bounced deliveries are finished and their DSNs sent in batches of this many. */
const BOUNCE_BATCH = 200;
const MAX_BODY = 1024 * 1024;

const durationText = z
  .string()
  .min(1)
  .transform((v, ctx) => {
    try {
      return parseDuration(v);
    } catch {
      ctx.addIssue({ code: "custom", message: 'expected a duration such as "30m", "2h" or "3d"' });
      return z.NEVER;
    }
  });

/** A filter as the API takes it: ages as durations ("older than 2h"); `ids` may name messages or deliveries. */
export const filterSchema = z
  .object({
    ids: z.array(z.string().min(1)).max(10_000).optional(),
    messageId: z.string().min(1).optional(),
    zone: z.string().min(1).optional(),
    domain: z.string().min(1).optional(),
    state: z.array(z.enum(OPS_STATES as [string, ...string[]])).optional(),
    olderThan: durationText.optional(),
    newerThan: durationText.optional(),
    reply: z.string().min(1).optional(),
    all: z.boolean().optional(),
  })
  .strict();
type FilterInput = z.infer<typeof filterSchema>;

const deleteSchema = filterSchema.extend({
  mode: z.enum(["bounce", "drop"]),
  reason: z.string().max(300).optional(),
});
const flushSchema = z.object({ domain: z.string().min(1), zone: z.string().min(1).optional() }).strict();

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.join(".") || undefined;
    throw new MailError("invalid-request", `${field ? `${field}: ` : ""}${issue.message}`, field);
  }
  return result.data;
}

export function queueRoutes(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.use("*", operatorOnly("Queue operations"));
  app.use("*", async (_c, next) => {
    if (!deps.ops) throw new MailError("not-found", "This queue backend offers no queue operations");
    await next();
  });
  const ops = () => deps.ops!;

  app.get("/deliveries", async (c) => {
    const q = c.req.query();
    const input = parse(filterSchema, {
      ...pick(q, ["messageId", "zone", "domain", "olderThan", "newerThan", "reply"]),
      ...(q.ids ? { ids: q.ids.split(",").filter(Boolean) } : {}),
      ...(q.state ? { state: q.state.split(",").filter(Boolean) } : {}),
    });
    const limit = Math.min(MAX_PAGE, Math.max(1, Number(q.limit ?? DEFAULT_PAGE) || DEFAULT_PAGE));
    const page = await ops().list(await toFilter(input, deps), { limit, ...(q.cursor ? { cursor: q.cursor } : {}) });
    return c.json({
      deliveries: page.items.map(presentDelivery),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    });
  });

  app.get("/counts", async (c) => {
    const counts = await ops().counts();
    const zones = new Map<string, Record<string, unknown>>();
    const zoneOf = (zone: string) => {
      let z_ = zones.get(zone);
      if (!z_) {
        z_ = { zone, queued: 0, deferred: 0, held: 0 };
        zones.set(zone, z_);
      }
      return z_;
    };
    for (const zone of Object.keys(deps.config.zones)) zoneOf(zone);
    for (const n of counts) zoneOf(n.zone)[n.state] = n.count;
    // Attempt counters since this process started: the admin overview turns their deltas into rates.
    if (deps.metrics) {
      for (const v of (await deps.metrics.attempts.get()).values) {
        const z_ = zoneOf(String(v.labels.zone));
        z_.attempts ??= { delivered: 0, deferred: 0, bounced: 0 };
        const attempts = z_.attempts as Record<string, number>;
        attempts[String(v.labels.outcome)] = (attempts[String(v.labels.outcome)] ?? 0) + v.value;
      }
    }
    return c.json({ at: new Date(deps.clock.now()).toISOString(), zones: [...zones.values()] });
  });

  const mutation = (action: string, run: (filter: DeliveryFilter, now: number) => Promise<number>) =>
    app.post(`/${action}`, async (c) => {
      const input = parse(filterSchema, await readJsonBody(c, MAX_BODY));
      const filter = await toFilter(requireCriteria(input), deps);
      const affected = await run(filter, deps.clock.now());
      await audit(c, deps, `queue.${action}`, targetOf(input), affected);
      if (affected > 0 && action !== "hold") deps.wake?.(Object.keys(deps.config.zones));
      return c.json({ affected });
    });
  mutation("retry", (f, now) => ops().retry(f, now));
  mutation("hold", (f, now) => ops().hold(f, now));
  mutation("release", (f, now) => ops().release(f, now));

  app.post("/delete", async (c) => {
    const input = parse(deleteSchema, await readJsonBody(c, MAX_BODY));
    const filter = await toFilter(requireCriteria(input), deps);
    const now = deps.clock.now();
    const reason = `5.0.0 deleted by operator${input.reason ? `: ${input.reason}` : ""}`;
    const affected =
      input.mode === "drop"
        ? (await ops().remove(filter, { mode: "drop", reason, now })).count
        : await bounceAll(c, ops(), filter, reason, deps);
    await audit(c, deps, "queue.delete", { ...targetOf(input), mode: input.mode }, affected, input.reason);
    return c.json({ affected });
  });

  app.post("/flush", async (c) => {
    const input = parse(flushSchema, await readJsonBody(c, MAX_BODY));
    const affected = await ops().flush(input.domain.toLowerCase(), deps.clock.now(), input.zone);
    await audit(c, deps, "queue.flush", input, affected);
    if (affected > 0) deps.wake?.(input.zone ? [input.zone] : Object.keys(deps.config.zones));
    return c.json({ affected });
  });

  return app;
}

/** Bounces in batches, sending each DSN; a DSN that fails is logged (the delivery stays bounced). */
async function bounceAll(
  c: Context<ApiEnv>,
  ops: QueueOps,
  filter: DeliveryFilter,
  reason: string,
  deps: AppDeps,
): Promise<number> {
  const state = (filter.state ?? OPEN_OPS_STATES).filter((s) => OPEN_OPS_STATES.includes(s));
  if (state.length === 0) return 0;
  let total = 0;
  for (;;) {
    const page = await ops.list({ ...filter, state }, { limit: BOUNCE_BATCH });
    const ids = page.items.map((d) => d.id);
    if (ids.length === 0) return total;
    const { count, bounced } = await ops.remove({ ids }, { mode: "bounce", reason, now: deps.clock.now() });
    total += count;
    for (const d of bounced) {
      await deps.bounce?.(d, reason).catch((err) => {
        deps.logger.error({ err, msgId: d.messageId, deliveryId: d.id, path: c.req.path }, "DSN failed");
      });
    }
    if (count === 0) return total; // nothing changed (raced with senders): do not loop
  }
}

function pick(q: Record<string, string>, keys: string[]) {
  return Object.fromEntries(keys.filter((k) => q[k] !== undefined && q[k] !== "").map((k) => [k, q[k]]));
}

/** A mutation must say what it changes: an empty filter needs `all: true`, so nobody empties the queue by accident. */
function requireCriteria<T extends FilterInput>(input: T): T {
  const { all, ...criteria } = input;
  if (!all && Object.values(criteria).every((v) => v === undefined)) {
    throw new MailError("invalid-request", "Give ids or a filter (zone, domain, state, …), or all: true");
  }
  return input;
}

/** The filter as the audit trail keeps it: as given, without the parsed durations. */
function targetOf(input: FilterInput & { mode?: string; reason?: string }): Record<string, unknown> {
  const { olderThan, newerThan, reason: _reason, ...rest } = input;
  return {
    ...rest,
    ...(olderThan === undefined ? {} : { olderThanMs: olderThan }),
    ...(newerThan === undefined ? {} : { newerThanMs: newerThan }),
  };
}

/** Durations become times; ids of messages become the ids of their deliveries. */
async function toFilter(input: FilterInput, deps: AppDeps): Promise<DeliveryFilter> {
  const now = deps.clock.now();
  let ids: string[] | undefined;
  if (input.ids) {
    ids = [];
    for (const id of input.ids) {
      const message = await deps.queue.getMessage(id);
      if (message) ids.push(...message.deliveries.map((d) => d.id));
      else ids.push(id);
    }
  }
  return {
    ...(ids ? { ids } : {}),
    ...(input.messageId ? { messageId: input.messageId } : {}),
    ...(input.zone ? { zone: input.zone } : {}),
    ...(input.domain ? { domain: input.domain.toLowerCase() } : {}),
    ...(input.state ? { state: input.state as DeliveryFilter["state"] } : {}),
    ...(input.olderThan === undefined ? {} : { receivedBefore: now - input.olderThan }),
    ...(input.newerThan === undefined ? {} : { receivedAfter: now - input.newerThan }),
    ...(input.reply ? { reply: input.reply } : {}),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A delivery as the API shows it: `state` is the operator's view (held included), times as ISO 8601. */
export function presentDelivery(d: OpsDelivery) {
  return {
    id: d.id,
    messageId: d.messageId,
    zone: d.zone,
    recipient: d.recipient,
    domain: d.domain,
    state: d.opsState,
    leased: d.leased,
    attempts: d.attempts,
    nextAttemptAt: iso(d.nextAttemptAt),
    ...(d.lastResponse === undefined ? {} : { lastResponse: d.lastResponse }),
    from: d.from,
    ...(d.subject === undefined ? {} : { subject: d.subject }),
    size: d.size,
    receivedAt: iso(d.receivedAt),
    updatedAt: iso(d.updatedAt),
  };
}
