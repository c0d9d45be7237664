// One lane: the deliveries of one recipient domain, sent one after another over one connection from one local
// address, within the destination's cluster-wide budgets (connections, rates, suspensions, warm-up).
import type { Logger } from "pino";
import type { Config, ZoneConfig } from "../../shared/config/schema.ts";
import type { Attempt, LeasedDelivery } from "../../shared/domain/envelope.ts";
import type { HookName } from "../../shared/plugins/hooks.ts";
import type { PluginHost } from "../../shared/plugins/host.ts";
import type { BodyStore } from "../../shared/ports/body-store.ts";
import type { Clock } from "../../shared/ports/clock.ts";
import type { Coordinator } from "../../shared/ports/coordinator.ts";
import { type Destination, destinationOf } from "../shaping/destination.ts";
import { pickWeighted, type Shaper } from "../shaping/shaper.ts";
import { memoPlans, type TlsPolicyEngine, type TlsSessionReporter } from "../tls-policy/policy.ts";
import { type AttemptResult, attemptDeliveries } from "./attempt.ts";
import type { ConnectionCache } from "./connection-cache.ts";
import type { DkimSetup } from "./dkim.ts";
import { attemptHttpDelivery } from "./http-delivery.ts";
import { bindingFor } from "./local-address.ts";
import type { MxHost, MxResolver } from "./mx.ts";

type PoolEntry = Config["pools"][string][number];

export interface LaneDeps {
  zoneName: string;
  zone: ZoneConfig;
  config: Readonly<Config>;
  coordinator: Coordinator;
  shaper: Shaper;
  mx: MxResolver;
  bodyStore: BodyStore;
  clock: Clock;
  cache: ConnectionCache;
  logger: Logger;
  dkim?: DkimSetup | undefined;
  plugins?: PluginHost | undefined;
  /** Outbound TLS policy and TLS-RPT counting (relay/tls-policy); unset = opportunistic. */
  tls?: TlsPolicyEngine | undefined;
  tlsReport?: TlsSessionReporter | undefined;
  /** Unique per lane: the holder of its connection slot. */
  holder: string;
  next(): LeasedDelivery | undefined;
  /** Resolves when new work came ("work": another lane may have taken it), after `ms`, or when the lane should go. */
  waitForWork(ms: number): Promise<"work" | "timeout" | "release">;
  /** Takes up to `max` more deliveries of `d`'s message out of the lane (the same domain, so one transaction). */
  siblings(d: LeasedDelivery, max: number): LeasedDelivery[];
  /** Puts a delivery back at the front of the lane, untried. */
  requeue(d: LeasedDelivery): void;
  running(): boolean;
  inFlight(id: string, flying: boolean): void;
  complete(d: LeasedDelivery, result: AttemptResult, nextAttemptAt?: number): Promise<void>;
}

/** The lane ended without a connection slot: other hosts hold the destination's budget. */
export const BUDGET_FULL = Symbol("budget-full");

/** Deferral-rate slow-down: this share of deferrals in a minute (with enough samples) slows a destination. */
const SLOW_SHARE = 0.5;
const SLOW_MIN_SAMPLES = 5;
const SLOW_FOR_MS = 5 * 60_000;
const SLOW_GAP_MS = 1_000;
const MAX_RATE_SLEEP_MS = 5_000;
/**
 * Recipients of one message sent in one transaction (RFC 5321 §4.5.3.1.8: a server takes at least 100; Postfix's
 * smtp_destination_recipient_limit is 50): the body is read, signed and sent once instead of once per recipient.
 */
const MAX_RCPTS_PER_TRANSACTION = 50;
/** Hooks that take one delivery each: with any of them, every delivery has a transaction of its own. */
export const PER_DELIVERY_HOOKS: readonly HookName[] = ["sender:fetch", "sender:connect", "sender:headers"];
/**
 * How long a lane out of work keeps its connection (and slot) for more: in a steady flow the next message is a
 * few ms behind, and a new connection (TCP, greeting, EHLO, STARTTLS) costs far more than the wait.
 */
const LINGER_MS = 200;

export async function runLane(domain: string, deps: LaneDeps): Promise<typeof BUDGET_FULL | undefined> {
  const { config, zone, coordinator, shaper } = deps;
  const http = config.routes[domain]?.http ?? zone.http;
  const mx = laneMemo(deps.mx);
  const hosts = http ? [] : await mx.resolve(domain, zone).catch(() => [] as MxHost[]);
  const dest = destinationOf(
    domain,
    hosts.map((h) => h.host),
    config,
  );
  const slow = (await coordinator.getFlag(`slow|${dest.key}`).catch(() => undefined)) !== undefined;
  const limit = slow ? 1 : dest.settings.maxConnections;
  const slotKey = shaper.connectionKey(deps.zoneName, dest.key);
  const ttl = config.queue.leaseTime;
  const granted = await coordinator.acquireSlot(slotKey, deps.holder, limit, ttl).catch((err) => {
    deps.logger.warn({ err, domain }, "coordinator unavailable, waiting");
    return false;
  });
  if (!granted) return BUDGET_FULL;
  try {
    await deliverAll(domain, dest, http, mx, deps, slow, () =>
      coordinator.acquireSlot(slotKey, deps.holder, limit, ttl).catch(() => true),
    );
  } finally {
    // Each lane holds at most one connection, busy or idle in the cache, and an idle one still counts against the
    // destination's budget: one goes with the slot. Only one: closing every idle connection of the domain whenever
    // one of its lanes ran out of work made the lanes still sending connect again (1 connection per ~6 messages
    // under load instead of per reuseCount; with STARTTLS a handshake each).
    deps.cache.closeOneWhere(`${domain}|`);
    await coordinator.releaseSlot(slotKey, deps.holder).catch(() => {});
  }
  return undefined;
}

async function deliverAll(
  domain: string,
  dest: Destination,
  http: NonNullable<ZoneConfig["http"]> | undefined,
  laneMx: MxResolver,
  deps: LaneDeps,
  slow: boolean,
  keepSlot: () => Promise<boolean>,
) {
  const { config, zone, shaper, clock } = deps;
  let mx = laneMx;
  const pool = config.pools[zone.pool]!;
  let tls = deps.tls ? memoPlans(deps.tls) : undefined;
  let entry: PoolEntry | undefined;
  // Every delivery has a transaction of its own when the sender:* hooks (which take one delivery) are in use, and
  // when a rate applies: rates count deliveries and spread them over time, which a batch would send at once.
  const rated = Boolean(zone.throttling || dest.settings.throttling || dest.settings.ipThrottling);
  const batches = !http && !rated && !PER_DELIVERY_HOOKS.some((hook) => deps.plugins?.has(hook));
  for (;;) {
    if (!deps.running()) return;
    let d = deps.next();
    if (!d) {
      // New work wakes every lingering lane of the domain and one of them takes it: the others linger on for what
      // is left of their time instead of giving up their connection (which the next burst would open again).
      const until = performance.now() + LINGER_MS;
      for (;;) {
        const why = await deps.waitForWork(until - performance.now());
        d = deps.running() ? deps.next() : undefined;
        if (d || why !== "work" || performance.now() >= until) break;
      }
      if (!d) return;
      // New work after a pause decides afresh, as a new lane would (MX answer, TLS policy); it keeps the connection
      // only when the new decision gives it the same key.
      mx = laneMemo(deps.mx);
      tls = deps.tls ? memoPlans(deps.tls) : undefined;
    }
    const taken = batches ? [d, ...deps.siblings(d, MAX_RCPTS_PER_TRANSACTION - 1)] : [d];
    let batch = taken;
    for (const x of taken) deps.inFlight(x.id, true);
    try {
      await keepSlot(); // refreshes the slot's TTL between messages
      let results: AttemptResult[];
      if (http) {
        if (!(await waitForRate(deps, dest, "http"))) return putBack(d, deps);
        results = [
          await attemptHttpDelivery(d, http, {
            bodyStore: deps.bodyStore,
            clock,
            dkim: deps.dkim,
            plugins: deps.plugins,
          }),
        ];
      } else {
        const choice = await shaper.chooseAddresses(pool, dest, clock.now());
        if (choice.usable.length === 0) {
          // Every address rests or is capped: wait until one is back — never spin on the destination.
          const why = `4.4.5 No local address may send to ${dest.key} now: ${choice.blockedReason}`;
          await Promise.all(batch.map((x) => complete(deps, x, localDeferral(x, clock, why), choice.retryAt)));
          continue;
        }
        // One address per lane, so consecutive messages share its connection; re-chosen when it becomes unusable.
        if (!entry || !choice.usable.some((u) => u.address === entry!.address)) entry = pickWeighted(choice.usable)!;
        // Warm-up counts each recipient; those past the cap go back and the next round picks a warm address.
        const reserved: LeasedDelivery[] = [];
        for (const x of batch) {
          if (!(await shaper.reserveWarmup(entry, clock.now()))) break;
          reserved.push(x);
        }
        for (const x of batch.slice(reserved.length).reverse()) deps.requeue(x);
        batch = reserved;
        if (batch.length === 0) {
          entry = undefined;
          continue;
        }
        if (!(await waitForRate(deps, dest, entry.address))) return putBack(d, deps); // batches only when unrated
        const chosen = entry;
        results = await attemptDeliveries(batch, {
          zone,
          mx,
          bodyStore: deps.bodyStore,
          clock,
          cache: deps.cache,
          pickAddress: (remote) => bindingFor(remote, chosen, choice.usable, config.hostname),
          logger: deps.logger,
          dkim: deps.dkim,
          plugins: deps.plugins,
          tls,
          tlsReport: deps.tlsReport,
        });
        if (batch.length > 1 && results.every((r) => r.outcome === "deferred" && aboutAddress(r.attempt))) {
          // Refused for our address (a blocklist, a per-IP limit): that says nothing about the other recipients.
          // The first one's deferral suspends the address; the rest go back untried, for another address.
          for (const x of batch.slice(1).reverse()) deps.requeue(x);
          batch = batch.slice(0, 1);
          results = results.slice(0, 1);
        }
        if (results.some((r) => r.outcome === "delivered")) {
          // RFC 5321 §4.5.3.1.10: "452 too many recipients" asks for the rest in another transaction, not later.
          const more = results.map((r) => r.outcome === "deferred" && /^452\b.*\b4\.5\.3\b/.test(r.attempt.response));
          for (const x of batch.filter((_, i) => more[i]).reverse()) deps.requeue(x);
          batch = batch.filter((_, i) => !more[i]);
          results = results.filter((_, i) => !more[i]);
        }
        for (const result of results) await afterAttempt(result, dest, deps);
      }
      // Together, so the queue records one transaction's outcomes in one commit.
      await Promise.all(results.map((result, i) => complete(deps, batch[i]!, result)));
      if (slow) await sleep(SLOW_GAP_MS);
    } catch (err) {
      // Shaping or the coordinator failed: what is not completed comes back when its lease ends.
      deps.logger.error({ err, deliveryId: d.id, domain }, "delivery attempt failed");
    } finally {
      for (const x of taken) deps.inFlight(x.id, false);
    }
  }
}

/** Records an outcome; when the queue refuses it, the lease expires and the delivery comes back. */
async function complete(deps: LaneDeps, d: LeasedDelivery, result: AttemptResult, nextAttemptAt?: number) {
  try {
    await deps.complete(d, result, nextAttemptAt);
  } catch (err) {
    deps.logger.error({ err, deliveryId: d.id, domain: d.domain }, "could not record delivery outcome");
  }
}

/** Waits for the zone, destination and address rate buckets. False when the sender stops meanwhile. */
async function waitForRate(deps: LaneDeps, dest: Destination, localAddress: string): Promise<boolean> {
  for (;;) {
    const wait = await deps.shaper.takeRate(deps.zoneName, deps.zone.throttling, dest, localAddress).catch(() => 1_000);
    if (wait === 0) return true;
    if (!deps.running()) return false;
    await sleep(Math.min(wait, MAX_RATE_SLEEP_MS));
  }
}

/** Back-off and warm-up bookkeeping after an SMTP attempt. */
async function afterAttempt(result: AttemptResult, dest: Destination, deps: LaneDeps) {
  const { attempt } = result;
  const local = attempt.localAddress;
  try {
    if (local && aboutAddress(attempt)) {
      await deps.shaper.suspend(local, dest.key, attempt.response);
      deps.logger.warn({ localAddress: local, destination: dest.key, reason: attempt.response }, "address suspended");
    }
    const window = 60_000;
    const [tried, deferred] = await Promise.all([
      deps.coordinator.increment(`tried|${dest.key}`, 1, window),
      result.outcome === "deferred"
        ? deps.coordinator.increment(`deferred|${dest.key}`, 1, window)
        : deps.coordinator.count(`deferred|${dest.key}`, window),
    ]);
    if (tried >= SLOW_MIN_SAMPLES && deferred / tried >= SLOW_SHARE) {
      await deps.coordinator.setFlag(`slow|${dest.key}`, `${deferred}/${tried} deferred in a minute`, SLOW_FOR_MS);
    }
  } catch (err) {
    deps.logger.warn({ err }, "shaping bookkeeping failed");
  }
}

/** A refusal because of our sending address, not the recipient. */
function aboutAddress(attempt: Attempt): boolean {
  // "Too many recipients" (x.5.3) is filed as rate-limited but says nothing about the address: no suspension.
  return (
    attempt.category === "blocklisted" ||
    (attempt.category === "rate-limited" && !/\b[45]\.5\.3\b/.test(attempt.response))
  );
}

function localDeferral(d: LeasedDelivery, clock: Clock, response: string): AttemptResult {
  const attempt: Attempt = { deliveryId: d.id, at: clock.now(), durationMs: 0, outcome: "deferred", response };
  attempt.category = "suspended";
  return { outcome: "deferred", status: "4.4.5", attempt };
}

function putBack(d: LeasedDelivery, deps: LaneDeps) {
  deps.logger.debug({ deliveryId: d.id }, "stopping: delivery left to its lease");
}

/** MX answers kept for the lane's lifetime: one lookup per lane, fresh DNS for the next. */
function laneMemo(mx: MxResolver): MxResolver {
  const memo = new Map<string, Promise<MxHost[]>>();
  return {
    resolve(domain, zone) {
      let hit = memo.get(domain);
      if (!hit) {
        hit = mx.resolve(domain, zone);
        memo.set(domain, hit);
        hit.catch(() => memo.delete(domain)); // failures are retried, not remembered
      }
      return hit;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
