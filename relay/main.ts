// Composition root: builds the adapters from the validated config and starts the roles of this process
// (SMTP intake, HTTP API, zone senders, garbage collection). No globals: everything is passed down.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { createApp } from "../functions/app.ts";
import { startApiServer } from "../functions/server.ts";
import { openBackends } from "../shared/adapters/open-backends.ts";
import type { Config } from "../shared/config/schema.ts";
import { createRouter } from "../shared/intake/routing.ts";
import { createSubmit } from "../shared/intake/submit.ts";
import { createLogger } from "../shared/observability/logger.ts";
import { type Clock, systemClock } from "../shared/ports/clock.ts";
import { createBounceNotifier } from "./bounce-notifier.ts";
import { collectGarbage } from "./gc.ts";
import { type SmtpIntake, startSmtpIntake } from "./intake/smtp-intake.ts";
import { createMxResolver } from "./sender/mx.ts";
import { ZoneSender } from "./sender/zone-sender.ts";

export interface RelayHandle {
  smtpPorts: Record<string, number>;
  apiPort: number | undefined;
  /** Stops accepting, lets in-flight deliveries finish (bounded), releases leases, closes storage. */
  stop(): Promise<void>;
}

const GC_INTERVAL_MS = 60_000;
const STOP_GRACE_MS = 30_000;

export async function startRelay(
  config: Readonly<Config>,
  options: { logger?: Logger; clock?: Clock } = {},
): Promise<RelayHandle> {
  const logger = options.logger ?? createLogger(config.log.level);
  const clock = options.clock ?? systemClock;
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;

  const backends = await openBackends(config, clock);
  const { queue, bodyStore, coordinator } = backends;
  const senders = new Map<string, ZoneSender>();
  const submit = createSubmit({
    queue,
    bodyStore,
    clock,
    hostname: config.hostname,
    zones: Object.keys(config.zones),
    route: createRouter(config),
    holdFutureDated: config.queue.holdFutureDated,
    logger,
    idempotencyTtl: config.api.idempotencyTtl,
    onQueued: (zones) => {
      for (const z of zones) senders.get(z)?.wake();
    },
  });

  const onBounce = createBounceNotifier({ config, bodyStore, submit });
  const mx = createMxResolver(config);
  for (const name of Object.keys(config.zones)) {
    senders.set(
      name,
      new ZoneSender(name, { config, queue, bodyStore, clock, mx, coordinator, logger, owner, onBounce }),
    );
  }

  const intakes: SmtpIntake[] = [];
  for (const [name, iface] of Object.entries(config.smtpInterfaces)) {
    if (iface.enabled) intakes.push(await startSmtpIntake({ name, iface, config, submit, logger }));
  }
  const api = config.api.enabled
    ? await startApiServer({
        config,
        app: createApp({ config, queue, bodyStore, submit, clock, logger, coordinator }),
        logger,
      })
    : undefined;

  for (const sender of senders.values()) sender.start();
  const gc = setInterval(() => {
    collectGarbage({ queue, bodyStore, clock, logger }).catch((err) => logger.error({ err }, "gc failed"));
  }, GC_INTERVAL_MS);
  gc.unref();
  logger.info({ owner, zones: [...senders.keys()] }, "relay started");

  let stopping: Promise<void> | undefined;
  return {
    smtpPorts: Object.fromEntries(intakes.map((i) => [i.name, i.port])),
    apiPort: api?.port,
    stop() {
      stopping ??= (async () => {
        clearInterval(gc);
        await Promise.all([...intakes.map((i) => i.close()), api?.close()]);
        const grace = new Promise<void>((r) => setTimeout(r, STOP_GRACE_MS).unref());
        await Promise.race([Promise.all([...senders.values()].map((s) => s.stop())), grace]);
        const released = await queue.release(owner);
        await backends.close();
        logger.info({ released }, "relay stopped");
      })();
      return stopping;
    },
  };
}
