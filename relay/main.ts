// Composition root: builds the adapters from the validated config and starts the roles of this process
// (SMTP intake, HTTP API, zone senders, garbage collection). No globals: everything is passed down.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { createApp } from "../functions/app.ts";
import { startApiServer } from "../functions/server.ts";
import { openBackends } from "../shared/adapters/open-backends.ts";
import { createAuthThrottle } from "../shared/auth/auth-throttle.ts";
import type { Config } from "../shared/config/schema.ts";
import { createRouter } from "../shared/intake/routing.ts";
import { createSubmit } from "../shared/intake/submit.ts";
import { createLogger } from "../shared/observability/logger.ts";
import { createMetrics, instrumentPort } from "../shared/observability/metrics.ts";
import { loadPlugins } from "../shared/plugins/loader.ts";
import { type Clock, systemClock } from "../shared/ports/clock.ts";
import { createBounceNotifier, createDelayNotifier } from "./bounce-notifier.ts";
import { collectGarbage, releaseFinishedBodies } from "./gc.ts";
import { type SmtpIntake, startSmtpIntake } from "./intake/smtp-intake.ts";
import { submitSettings } from "./intake/submit-settings.ts";
import { addRelayCollectors, countingSubmit } from "./metrics-sources.ts";
import { createDkimSetup, dkimCanonicalizations } from "./sender/dkim.ts";
import { createMxResolver } from "./sender/mx.ts";
import { ZoneSender } from "./sender/zone-sender.ts";
import { createTlsPolicy, trustedCas } from "./tls-policy/policy.ts";
import { createTlsRptRecorder } from "./tls-policy/tls-rpt.ts";
import { createTlsReportRunner } from "./tls-policy/tls-rpt-send.ts";

export interface RelayHandle {
  smtpPorts: Record<string, number>;
  apiPort: number | undefined;
  /** Stops accepting, lets in-flight deliveries finish (bounded), releases leases, closes storage. */
  stop(): Promise<void>;
  /**
   * Applies a new config's delivery settings (zones, pools, routes, domains, shaping, retries, DNS, bounces)
   * without losing work: senders finish the delivery in hand, give back their leases and restart. Listeners,
   * users, API keys and backends keep their values until a restart; the keys that changed there are returned.
   */
  reload(next: Readonly<Config>): Promise<{ needsRestart: string[] }>;
}

/** Top-level keys whose change takes a restart (they shape listeners, credentials or storage). */
const RESTART_KEYS = [
  "hostname",
  "log",
  "smtpInterfaces",
  "users",
  "api",
  "admin",
  "metrics",
  "dbs",
  "aws",
  "uploads",
  "plugins",
  "threadPool",
] as const;
const RESTART_QUEUE_KEYS = ["backend", "bodies", "spoolDir", "dbPath", "collection", "gfs", "instanceId"] as const;

const GC_INTERVAL_MS = 60_000;
const RELEASE_INTERVAL_MS = 1_000;
const STOP_GRACE_MS = 30_000;

export async function startRelay(
  config: Readonly<Config>,
  options: {
    logger?: Logger;
    clock?: Clock /** Where relative plugin paths start (the config file's directory). */;
    pluginBaseDir?: string;
  } = {},
): Promise<RelayHandle> {
  const logger = options.logger ?? createLogger(config.log.level);
  const clock = options.clock ?? systemClock;
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;

  // Bad DKIM keys stop the start, before anything is opened (like any other config error).
  let dkim = createDkimSetup(config);
  // Plugins start before anything is opened: one that cannot start stops the relay with its reason.
  const plugins = await loadPlugins(config, logger, { baseDir: options.pluginBaseDir ?? process.cwd() });
  const backends = await openBackends(config, clock);
  // One registry per relay, passed down; backend latency is observed around the ports, so adapters know nothing of it.
  const metrics = config.metrics.enabled ? createMetrics(config.metrics) : undefined;
  const queue = metrics ? instrumentPort(backends.queue, "queue", metrics) : backends.queue;
  const bodyStore = metrics ? instrumentPort(backends.bodyStore, "bodyStore", metrics) : backends.bodyStore;
  const { coordinator } = backends;
  const ops = metrics && backends.ops ? instrumentPort(backends.ops, "queueOps", metrics) : backends.ops;
  const senders = new Map<string, ZoneSender>();
  let current = config;
  // Kept as an object so a reload can swap the routing without rebuilding the intake.
  const submitDeps: Parameters<typeof createSubmit>[0] = {
    queue,
    bodyStore,
    clock,
    ...submitSettings(config),
    logger,
    plugins,
    onQueued: (zones) => {
      for (const z of zones) senders.get(z)?.wake();
    },
  };
  const submit = countingSubmit(createSubmit(submitDeps), metrics);

  function buildSenders(cfg: Readonly<Config>) {
    const dsnDeps = { config: cfg, bodyStore, submit, coordinator, logger };
    const onBounce = createBounceNotifier(dsnDeps);
    const onDelay = createDelayNotifier(dsnDeps);
    const mx = createMxResolver(cfg);
    // MTA-STS policies are cached in the coordinator, so every host (with Redis) shares them.
    const tls = createTlsPolicy(cfg, { coordinator, clock, logger });
    const tlsReport = cfg.tls.reports.enabled ? createTlsRptRecorder({ coordinator, clock, logger }) : undefined;
    senders.clear();
    for (const name of Object.keys(cfg.zones)) {
      senders.set(
        name,
        new ZoneSender(name, {
          config: cfg,
          queue,
          bodyStore,
          clock,
          mx,
          coordinator,
          logger,
          owner,
          onBounce,
          onDelay,
          metrics,
          dkim,
          tls,
          ...(tlsReport ? { tlsReport } : {}),
          plugins,
        }),
      );
    }
  }
  buildSenders(config);
  if (metrics) addRelayCollectors(metrics, { ops, coordinator, config: () => current, clock });

  const intakes: SmtpIntake[] = [];
  // Failed logins are counted in the coordinator: a lockout holds on every host of the cluster.
  const authThrottle = config.authThrottle.enabled
    ? createAuthThrottle(coordinator, config.authThrottle, {
        now: clock.now,
        onError: (err) => logger.warn({ err }, "auth throttle unavailable; logins are not throttled"),
      })
    : undefined;
  for (const [name, iface] of Object.entries(config.smtpInterfaces)) {
    if (!iface.enabled) continue;
    intakes.push(
      await startSmtpIntake({
        name,
        iface,
        config,
        submit,
        logger,
        metrics,
        plugins,
        ...(authThrottle ? { authThrottle } : {}),
      }),
    );
  }
  // An operator's bounce (DELETE through the queue API) sends the same DSN a failed delivery would.
  const operatorBounce = createBounceNotifier({ config, bodyStore, submit });
  // TLS-RPT: yesterday's reports daily (once per cluster), any day's on demand through the API.
  const tlsReports = config.tls.reports.enabled
    ? createTlsReportRunner({ config, coordinator, submit, clock, logger, ca: trustedCas(config) })
    : undefined;
  const stopTlsReports = tlsReports?.schedule();
  const api = config.api.enabled
    ? await startApiServer({
        config,
        app: createApp({
          config,
          plugins,
          queue,
          bodyStore,
          submit,
          clock,
          logger,
          coordinator,
          ops,
          metrics,
          ...(backends.uploads ? { uploads: backends.uploads } : {}),
          bounce: (d, reason) =>
            operatorBounce(
              { ...d, leaseOwner: "", leaseExpiresAt: 0 },
              {
                outcome: "bounced",
                status: "5.0.0",
                attempt: { deliveryId: d.id, at: clock.now(), durationMs: 0, outcome: "bounced", response: reason },
              },
            ),
          wake: (zones) => {
            for (const z of zones) senders.get(z)?.wake();
          },
          ...(tlsReports ? { tlsReports } : {}),
        }),
        logger,
      })
    : undefined;

  for (const sender of senders.values()) sender.start();
  // One collection at a time. Finished bodies go every second while there are some; a run that finds none waits
  // twice as long for the next (up to a minute), so an idle host does not query a shared backend (S3 listings,
  // MongoDB) every second. The full sweep for orphans runs every minute.
  let collecting: Promise<unknown> | undefined;
  let lastSweep = Date.now();
  let releaseEvery = RELEASE_INTERVAL_MS;
  let nextRelease = 0;
  const gc = setInterval(() => {
    const now = Date.now();
    if (collecting || now < nextRelease) return;
    const gcDeps = { queue, bodyStore, clock, logger };
    const sweep = now - lastSweep >= GC_INTERVAL_MS;
    if (sweep) lastSweep = now;
    const run = sweep ? collectGarbage(gcDeps).then((r) => r.removed) : releaseFinishedBodies(gcDeps);
    collecting = run
      .then((removed) => {
        releaseEvery = removed > 0 ? RELEASE_INTERVAL_MS : Math.min(GC_INTERVAL_MS, releaseEvery * 2);
      })
      .catch((err) => logger.error({ err }, "gc failed"))
      .finally(() => {
        nextRelease = Date.now() + releaseEvery - RELEASE_INTERVAL_MS;
        collecting = undefined;
      });
  }, RELEASE_INTERVAL_MS);
  gc.unref();
  logger.info({ owner, zones: [...senders.keys()] }, "relay started");

  let stopping: Promise<void> | undefined;
  let reloading = Promise.resolve();
  return {
    smtpPorts: Object.fromEntries(intakes.map((i) => [i.name, i.port])),
    apiPort: api?.port,
    stop() {
      stopping ??= (async () => {
        clearInterval(gc);
        stopTlsReports?.();
        await Promise.all([...intakes.map((i) => i.close()), api?.close()]);
        const grace = new Promise<void>((r) => setTimeout(r, STOP_GRACE_MS).unref());
        await Promise.race([Promise.all([...senders.values()].map((s) => s.stop())), grace]);
        const released = await queue.release(owner);
        await collecting;
        await backends.close();
        await plugins.close();
        logger.info({ released }, "relay stopped");
      })();
      return stopping;
    },
    reload(next) {
      const run = async () => {
        if (stopping) return { needsRestart: [] };
        const needsRestart = [
          ...RESTART_KEYS.filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k])),
          ...RESTART_QUEUE_KEYS.filter((k) => current.queue[k] !== next.queue[k]).map((k) => `queue.${k}`),
        ];
        const nextDkim = createDkimSetup(next); // a bad key fails the reload before anything stops
        await Promise.all([...senders.values()].map((s) => s.stop()));
        await queue.release(owner); // what the old senders held is due again at once for the new ones
        current = next;
        submitDeps.zones = Object.keys(next.zones);
        submitDeps.route = createRouter(next);
        submitDeps.holdFutureDated = next.queue.holdFutureDated;
        submitDeps.dkimCanonicalizations = dkimCanonicalizations(next);
        dkim = nextDkim;
        buildSenders(next);
        for (const sender of senders.values()) sender.start();
        logger.info({ zones: [...senders.keys()], needsRestart }, "config reloaded");
        return { needsRestart };
      };
      const result = reloading.then(run);
      reloading = result.then(
        () => undefined,
        () => undefined,
      );
      return result;
    },
  };
}
