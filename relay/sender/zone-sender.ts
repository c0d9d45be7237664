// Drains one sending zone: leases due deliveries, keeps them in per-domain lanes, and runs up to `connections`
// lanes at once. Each lane works within its destination's cluster-wide budgets (relay/sender/lane.ts). A domain at
// its limit never idles the zone: free connections go to other domains' work (unlike ZoneMTA #332).
import type { Logger } from "pino";
import type { Config, ZoneConfig } from "../../shared/config/schema.ts";
import type { LeasedDelivery } from "../../shared/domain/envelope.ts";
import type { DeliveryMetrics } from "../../shared/observability/metrics.ts";
import type { PluginHost } from "../../shared/plugins/host.ts";
import type { BodyStore } from "../../shared/ports/body-store.ts";
import type { Clock } from "../../shared/ports/clock.ts";
import type { Coordinator } from "../../shared/ports/coordinator.ts";
import type { Completion, Queue } from "../../shared/ports/queue.ts";
import { Shaper } from "../shaping/shaper.ts";
import type { TlsPolicyEngine, TlsSessionReporter } from "../tls-policy/policy.ts";
import type { AttemptResult } from "./attempt.ts";
import { ConnectionCache } from "./connection-cache.ts";
import type { DkimSetup } from "./dkim.ts";
import { BUDGET_FULL, PER_DELIVERY_HOOKS, runLane } from "./lane.ts";
import type { MxResolver } from "./mx.ts";
import { nextRetry } from "./retry-policy.ts";

export interface ZoneSenderDeps {
  config: Readonly<Config>;
  queue: Queue;
  bodyStore: BodyStore;
  clock: Clock;
  mx: MxResolver;
  /** Shares connection budgets with every other host (in-process in embedded mode, Redis in a cluster). */
  coordinator: Coordinator;
  logger: Logger;
  /** Lease owner id of this process. */
  owner: string;
  /** DKIM keys and options (built once from the config); unset = no signatures. */
  dkim?: DkimSetup;
  /** The sender:* hooks, queue:bounce and log:entry. */
  plugins?: PluginHost;
  /** Called after a delivery bounced (DSN, events). */
  onBounce?: (delivery: LeasedDelivery, result: AttemptResult) => Promise<void>;
  /** Called after a delivery was deferred (the delay DSN decides whether it is time). */
  onDelay?: (delivery: LeasedDelivery, result: AttemptResult) => Promise<void>;
  /** Counts each attempt by outcome, zone, local IP and destination (Prometheus). */
  metrics?: DeliveryMetrics;
  /** Outbound TLS policy (MTA-STS, DANE, requireTLS) and TLS-RPT counting; unset = opportunistic. */
  tls?: TlsPolicyEngine;
  tlsReport?: TlsSessionReporter;
}

export class ZoneSender {
  private readonly zone: ZoneConfig;
  private readonly log: Logger;
  private readonly cache: ConnectionCache;
  private readonly shaper: Shaper;
  /** Leased, not yet attempted, by domain. */
  private readonly pending = new Map<string, LeasedDelivery[]>();
  private readonly activeByDomain = new Map<string, number>();
  private readonly lanes = new Set<Promise<void>>();
  private laneSeq = 0;
  /** Domains whose cluster-wide connection budget was full: not tried again before this time. */
  private readonly budgetFullUntil = new Map<string, number>();
  /** Lanes out of work that keep their connection a moment for more, by domain: called when work arrives. */
  private readonly lingering = new Map<string, Set<(why: "work" | "release") => void>>();
  /** Deliveries being attempted right now; their leases are renewed too (a 1 GB message takes a while). */
  private readonly inFlight = new Set<string>();
  private running = false;
  private wakeUp: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  /** Last time a delivery was completed or work was leased: what the watchdog measures progress by. */
  private lastProgressAt = 0;
  private leaseFailures = 0;
  /** Withdraws the queue's handoff of fresh deliveries to this sender (queues that offer it). */
  private withdrawHandoff: (() => void) | undefined;

  /** Whether lanes send a message's recipients together (lane.ts: no zone rate, no sender:* hooks). */
  private readonly batches: boolean;

  constructor(
    readonly name: string,
    private readonly deps: ZoneSenderDeps,
  ) {
    this.zone = deps.config.zones[name]!;
    this.batches = !this.zone.throttling && !PER_DELIVERY_HOOKS.some((hook) => deps.plugins?.has(hook));
    this.log = deps.logger.child({ zone: name });
    this.cache = new ConnectionCache(this.zone.connectionCache);
    this.shaper = new Shaper(deps.coordinator, deps.config);
  }

  start() {
    this.running = true;
    this.lastProgressAt = this.deps.clock.now();
    // As much fresh work as the sender keeps in memory anyway (see run) may wait for it there.
    this.withdrawHandoff = this.deps.queue.handOff?.(this.name, {
      owner: this.deps.owner,
      leaseMs: this.deps.config.queue.leaseTime,
      max: this.zone.connections * 4,
    });
    this.startLoop();
    const stallAfter = this.deps.config.queue.watchdog;
    this.watchdogTimer = setInterval(() => void this.watchdog(stallAfter), Math.max(250, stallAfter / 4));
    this.watchdogTimer.unref();
    // In-memory work must keep its lease while it waits for a lane.
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(1000, this.deps.config.queue.leaseTime / 3));
    this.renewTimer.unref();
  }

  /** New work may be due: look now instead of at the next poll. */
  wake() {
    this.wakeUp?.();
  }

  /** Stops leasing, lets lanes finish the delivery in hand, gives back the leases of what was not attempted. */
  private startLoop() {
    this.loop = this.run().catch((err) => {
      // A sender that stops must not stall silently (ZoneMTA #347): crash the process so it is restarted.
      this.log.fatal({ err }, "zone sender crashed");
      process.exitCode = 1;
      process.kill(process.pid, "SIGTERM");
    });
  }

  /**
   * Liveness (ZoneMTA #347: zones that stall until restart): when work has been due for longer than
   * `queue.watchdog` and nothing was delivered or leased meanwhile, log why and kick the zone.
   */
  private async watchdog(stallAfter: number) {
    const { clock, queue } = this.deps;
    const now = clock.now();
    if (!this.running || now - this.lastProgressAt < stallAfter) return;
    // Overdue: leased work waiting here for a lane, or due work in the queue nobody leased.
    const due = this.pendingCount > 0 ? this.lastProgressAt : await queue.nextDueAt(this.name).catch(() => undefined);
    if (due === undefined || due > now - stallAfter) return;
    const blocked = [...this.budgetFullUntil.keys()];
    this.log.error(
      {
        overdueMs: now - due,
        lanes: this.lanes.size,
        pending: this.pendingCount,
        inFlight: this.inFlight.size,
        budgetFull: blocked,
        leaseFailures: this.leaseFailures,
      },
      this.lanes.size >= this.zone.connections
        ? "zone stalled: every connection is busy and none finished; waking it"
        : blocked.length
          ? "zone stalled: destination budgets held elsewhere; waking it"
          : "zone stalled: work is due but nothing was leased; waking it",
    );
    this.lastProgressAt = now; // one report per stall period
    this.budgetFullUntil.clear();
    this.startLanes();
    this.wake();
  }

  async stop() {
    clearInterval(this.watchdogTimer);
    this.running = false;
    this.withdrawHandoff?.();
    this.wake();
    this.releaseLingering(() => true);
    await this.loop;
    await Promise.allSettled([...this.lanes]);
    clearInterval(this.renewTimer);
    this.pending.clear();
    this.cache.closeAll();
  }

  private get pendingCount() {
    let n = 0;
    for (const list of this.pending.values()) n += list.length;
    return n;
  }

  private async run() {
    const { queue, clock, config } = this.deps;
    while (this.running) {
      const room = this.zone.connections * 4 - this.pendingCount;
      if (room > 0) {
        let leased: LeasedDelivery[];
        try {
          leased = await queue.lease(this.name, {
            owner: this.deps.owner,
            limit: room,
            leaseMs: config.queue.leaseTime,
            now: clock.now(),
          });
          this.leaseFailures = 0;
        } catch (err) {
          // The queue backend is away: keep trying, slower each time (≤ 30 s); never crash, never spin.
          this.leaseFailures++;
          const backoff = Math.min(30_000, config.queue.pollInterval * 2 ** Math.min(this.leaseFailures, 5));
          this.log.warn({ err, backoffMs: backoff }, "lease failed, queue unavailable");
          await this.sleep(backoff);
          continue;
        }
        if (leased.length) this.lastProgressAt = clock.now();
        for (const d of leased) {
          const list = this.pending.get(d.domain) ?? [];
          list.push(d);
          this.pending.set(d.domain, list);
        }
        if (leased.length) this.wakeLingering((domain) => this.pending.has(domain), "work");
      }
      this.startLanes();
      if (!this.running) break;
      await this.sleep(await this.idleTime());
    }
  }

  /** How long to wait: until a lane frees or new work is due, capped by the poll interval. */
  private async idleTime(): Promise<number> {
    const { queue, clock, config } = this.deps;
    const room = this.zone.connections * 4 - this.pendingCount;
    if (room > 0 && this.lanes.size < this.zone.connections) {
      const due = await queue.nextDueAt(this.name).catch(() => undefined);
      if (due !== undefined && due <= clock.now()) return 0;
      if (due !== undefined) return Math.min(config.queue.pollInterval, Math.max(0, due - clock.now()));
    }
    return config.queue.pollInterval;
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        done();
      };
    });
  }

  private maxConnectionsFor(domain: string): number {
    const dc = this.deps.config.domainConfig;
    return dc[domain]?.maxConnections ?? dc.default?.maxConnections ?? 5;
  }

  /** Lingering lanes of the domains `which` picks end now (drained domains' connections are wanted, or stopping). */
  private releaseLingering(which: (domain: string) => boolean) {
    this.wakeLingering(which, "release");
  }

  private wakeLingering(which: (domain: string) => boolean, why: "work" | "release") {
    for (const [domain, waiting] of this.lingering) if (which(domain)) for (const wake of [...waiting]) wake(why);
  }

  private startLanes() {
    for (const [domain, list] of this.pending) {
      if (this.lanes.size >= this.zone.connections) {
        // Lanes lingering on drained domains give their connections up for a domain that has none.
        if (list.length && !this.activeByDomain.get(domain)) this.releaseLingering((d) => !this.pending.get(d)?.length);
        return;
      }
      if (list.length === 0) continue;
      if ((this.budgetFullUntil.get(domain) ?? 0) > this.deps.clock.now()) continue;
      const active = this.activeByDomain.get(domain) ?? 0;
      if (active >= this.maxConnectionsFor(domain)) continue; // skip to other domains' work
      // Another connection to a domain only pays off when each open one already has more work queued behind it.
      // Work is counted in transactions: where lanes batch, a message's recipients at the domain go in one.
      const queued = this.batches ? messagesIn(list, active + 1) : list.length;
      if (active > 0 && queued <= active) continue;
      this.activeByDomain.set(domain, active + 1);
      const lane = this.runLane(domain).finally(() => {
        this.lanes.delete(lane);
        this.activeByDomain.set(domain, (this.activeByDomain.get(domain) ?? 1) - 1);
        this.startLanes();
        this.wake();
      });
      this.lanes.add(lane);
    }
  }

  /** Runs one lane; when the destination's budget is held by other hosts, looks again after a poll interval. */
  private async runLane(domain: string) {
    const outcome = await runLane(domain, {
      zoneName: this.name,
      zone: this.zone,
      config: this.deps.config,
      coordinator: this.deps.coordinator,
      shaper: this.shaper,
      mx: this.deps.mx,
      bodyStore: this.deps.bodyStore,
      clock: this.deps.clock,
      cache: this.cache,
      logger: this.log,
      dkim: this.deps.dkim,
      plugins: this.deps.plugins,
      tls: this.deps.tls,
      tlsReport: this.deps.tlsReport,
      holder: `${this.deps.owner}#${++this.laneSeq}`,
      next: () => {
        const d = this.pending.get(domain)?.shift();
        if (!d) this.pending.delete(domain);
        return d;
      },
      waitForWork: (ms) =>
        new Promise((resolve) => {
          const waiting = this.lingering.get(domain) ?? new Set();
          this.lingering.set(domain, waiting);
          const done = (why: "work" | "release" | "timeout") => {
            clearTimeout(timer);
            waiting.delete(done);
            if (waiting.size === 0 && this.lingering.get(domain) === waiting) this.lingering.delete(domain);
            resolve(why);
          };
          const timer = setTimeout(() => done("timeout"), Math.max(0, ms));
          waiting.add(done);
        }),
      siblings: (d, max) => {
        const list = this.pending.get(domain) ?? [];
        const taken: LeasedDelivery[] = [];
        for (let i = 0; i < list.length && taken.length < max; ) {
          if (list[i]!.messageId === d.messageId) taken.push(...list.splice(i, 1));
          else i++;
        }
        return taken;
      },
      requeue: (d) => {
        const list = this.pending.get(domain) ?? [];
        list.unshift(d);
        this.pending.set(domain, list);
      },
      running: () => this.running,
      inFlight: (id, flying) => (flying ? this.inFlight.add(id) : this.inFlight.delete(id)),
      complete: (d, result, nextAttemptAt) => this.complete(d, result, nextAttemptAt),
    });
    if (outcome === BUDGET_FULL) {
      this.budgetFullUntil.set(domain, this.deps.clock.now() + this.deps.config.queue.pollInterval);
    } else {
      this.budgetFullUntil.delete(domain);
    }
  }

  private async complete(d: LeasedDelivery, result: AttemptResult, nextAttemptAt?: number) {
    const { queue, config, clock } = this.deps;
    let completion: Completion;
    const expires = d.message.receivedAt + config.queue.maxQueueTime;
    if (result.outcome === "deferred" && nextAttemptAt !== undefined && nextAttemptAt < expires) {
      // A local wait (every address resting): until then, not by the retry schedule; past the queue time the
      // schedule's path below bounces it.
      completion = { outcome: "deferred", attempt: result.attempt, nextAttemptAt };
    } else if (result.outcome === "deferred") {
      const retry = nextRetry({
        attempts: d.attempts + 1,
        now: clock.now(),
        receivedAt: d.message.receivedAt,
        schedule: config.queue.retrySchedule,
        maxQueueTime: config.queue.maxQueueTime,
      });
      if (retry.retry) {
        completion = { outcome: "deferred", attempt: result.attempt, nextAttemptAt: retry.at };
      } else {
        // Never drop silently after maxQueueTime (ZoneMTA does): bounce with the last reason.
        result = { ...result, outcome: "bounced", status: result.status.replace(/^4/, "5") };
        result.attempt = {
          ...result.attempt,
          outcome: "bounced",
          response: `expired in queue; last reply: ${result.attempt.response}`,
        };
        completion = { outcome: "bounced", attempt: result.attempt };
      }
    } else {
      completion = { outcome: result.outcome, attempt: result.attempt } as Completion;
    }
    const recorded = await queue.complete(d.id, this.deps.owner, completion);
    this.lastProgressAt = clock.now();
    const a = result.attempt;
    this.log.info(
      {
        msgId: d.messageId,
        deliveryId: d.id,
        rcpt: d.recipient,
        outcome: completion.outcome,
        localAddress: a.localAddress,
        mx: a.mx,
        tls: a.tls,
        tlsPolicy: a.tlsPolicy,
        tlsCipher: a.tlsCipher,
        response: a.response,
        category: a.category,
        durationMs: a.durationMs,
        attempt: d.attempts + 1,
      },
      "delivery attempt",
    );
    this.deps.metrics?.recordAttempt({
      zone: this.name,
      localAddress: a.localAddress,
      domain: d.domain,
      outcome: completion.outcome,
      durationMs: a.durationMs,
      tlsPolicy: a.tlsPolicy,
      receivedAt: d.message.receivedAt,
      at: clock.now(),
    });
    let sendDsn = true;
    const plugins = this.deps.plugins;
    if (recorded && plugins) {
      if (completion.outcome === "delivered") {
        await plugins.notify("sender:delivered", {
          delivery: d,
          response: a.response,
          ...(a.mx ? { mx: a.mx } : {}),
          ...(a.localAddress ? { localAddress: a.localAddress } : {}),
        });
      }
      if (completion.outcome === "bounced") {
        const bounce = {
          delivery: d,
          response: a.response,
          status: result.status,
          ...(a.category ? { category: a.category } : {}),
          sendDsn: true,
        };
        await plugins.notify("queue:bounce", bounce);
        sendDsn = bounce.sendDsn;
      }
      await plugins.notify("log:entry", {
        entry: {
          event: completion.outcome,
          msgId: d.messageId,
          deliveryId: d.id,
          zone: this.name,
          rcpt: d.recipient,
          response: a.response,
          ...(a.category ? { category: a.category } : {}),
          ...(a.mx ? { mx: a.mx } : {}),
        },
      });
    }
    if (recorded && completion.outcome === "deferred" && this.deps.onDelay) {
      await this.deps
        .onDelay(d, result)
        .catch((err) => this.log.error({ err, msgId: d.messageId }, "delay DSN failed"));
    }
    if (recorded && completion.outcome === "bounced" && this.deps.onBounce && sendDsn) {
      await this.deps.onBounce(d, result).catch((err) => this.log.error({ err, msgId: d.messageId }, "DSN failed"));
    }
  }

  private async renewLeases() {
    const ids = [...[...this.pending.values()].flat().map((d) => d.id), ...this.inFlight];
    if (ids.length === 0) return;
    const until = this.deps.clock.now() + this.deps.config.queue.leaseTime;
    await this.deps.queue
      .renew(ids, this.deps.owner, until)
      .catch((err) => this.log.warn({ err }, "lease renewal failed"));
  }
}

/** Distinct messages among the deliveries, counted up to `enough`. */
function messagesIn(list: LeasedDelivery[], enough: number): number {
  const seen = new Set<string>();
  for (const d of list) {
    seen.add(d.messageId);
    if (seen.size >= enough) break;
  }
  return seen.size;
}
