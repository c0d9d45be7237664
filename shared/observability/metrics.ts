// Prometheus metrics of one relay host: one registry per process, built in the composition root and passed down
// (no global registry, so two relays in one test process never share counters). Names: zonerelay_<noun>_<unit>.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** What the sender reports after each attempt (relay/sender/zone-sender.ts). */
export interface DeliveryMetrics {
  recordAttempt(a: {
    zone: string;
    localAddress: string | undefined;
    domain: string;
    outcome: "delivered" | "deferred" | "bounced";
    durationMs: number;
    /** The attempt's outbound TLS policy (opportunistic, require-tls, mta-sts, mta-sts-testing, dane). */
    tlsPolicy?: string | undefined;
    /** When the message was accepted and when this attempt ended: the accept → delivery latency. */
    receivedAt: number;
    at: number;
  }): void;
}

/** What intake reports (relay/intake, the submit pipeline). */
export interface IntakeMetrics {
  recordAccepted(a: { interface: string; deliveries: { zone: string; recipient: string }[] }): void;
  recordSmtpSession(smtpInterface: string): void;
  recordSmtpReject(smtpInterface: string, reason: string): void;
}

export interface BackendMetrics {
  /** Times one call of a port's operation (queue.lease, bodyStore.put, …). */
  observeBackend(port: string, operation: string, seconds: number, ok: boolean): void;
}

export interface MetricsOptions {
  /** How many destinations get their own label value; the rest are "other" (bounded cardinality). */
  destinationLabels: number;
  /** Destinations that always get their own label (counted on top of `destinationLabels`). */
  destinations: readonly string[];
  /** Node's process metrics (CPU, memory, event loop lag, GC) under their standard names. */
  processMetrics: boolean;
}

/**
 * Label values for destinations: every domain listed in config, plus the first `limit` other domains this process
 * sends to (the big providers come first in practice), then "other". Once given, a label is kept, so a series never
 * changes meaning while the process lives.
 */
export class DestinationLabels {
  private readonly labelled = new Set<string>();
  constructor(
    private readonly limit: number,
    private readonly always: ReadonlySet<string>,
  ) {}

  of(domain: string): string {
    const d = domain.toLowerCase();
    if (this.always.has(d) || this.labelled.has(d)) return d;
    if (this.labelled.size < this.limit) {
      this.labelled.add(d);
      return d;
    }
    return "other";
  }
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Accept → delivery spans a second (a healthy queue) to days (retries of a deferral).
const LATENCY_SECONDS = [0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86_400, 3 * 86_400];
const ATTEMPT_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120];

export class Metrics implements DeliveryMetrics, IntakeMetrics, BackendMetrics {
  readonly registry = new Registry();
  readonly destinations: DestinationLabels;
  /** Run before every scrape to set gauges read from the backends (queue depth, suspensions, warm-up). */
  private readonly collectors: { name: string; collect: () => Promise<void> }[] = [];

  readonly messagesAccepted = new Counter({
    name: "zonerelay_messages_accepted_total",
    help: "Messages accepted (made durable and queued), by intake interface.",
    labelNames: ["interface"] as const,
    registers: [this.registry],
  });
  readonly deliveriesAccepted = new Counter({
    name: "zonerelay_deliveries_accepted_total",
    help: "Recipient deliveries queued at intake, by zone and destination domain.",
    labelNames: ["zone", "destination"] as const,
    registers: [this.registry],
  });
  readonly attempts = new Counter({
    name: "zonerelay_delivery_attempts_total",
    help: "Delivery attempts by outcome (delivered, deferred, bounced), zone, local IP and destination domain.",
    labelNames: ["zone", "local_ip", "destination", "outcome"] as const,
    registers: [this.registry],
  });
  readonly tlsPolicyAttempts = new Counter({
    name: "zonerelay_tls_policy_attempts_total",
    help: "SMTP delivery attempts by outbound TLS policy (opportunistic, require-tls, mta-sts, mta-sts-testing, dane) and outcome.",
    labelNames: ["zone", "policy", "outcome"] as const,
    registers: [this.registry],
  });
  readonly attemptDuration = new Histogram({
    name: "zonerelay_delivery_attempt_duration_seconds",
    help: "Time one delivery attempt took (connect to final reply), by zone and outcome.",
    labelNames: ["zone", "outcome"] as const,
    buckets: ATTEMPT_SECONDS,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: "zonerelay_delivery_latency_seconds",
    help: "Time from acceptance to successful delivery, by zone.",
    labelNames: ["zone"] as const,
    buckets: LATENCY_SECONDS,
    registers: [this.registry],
  });
  readonly smtpSessions = new Counter({
    name: "zonerelay_smtp_sessions_total",
    help: "SMTP client connections accepted, by intake interface.",
    labelNames: ["interface"] as const,
    registers: [this.registry],
  });
  readonly smtpRejects = new Counter({
    name: "zonerelay_smtp_rejects_total",
    help: "SMTP commands or messages refused at intake, by interface and reason (error kind).",
    labelNames: ["interface", "reason"] as const,
    registers: [this.registry],
  });
  readonly backendDuration = new Histogram({
    name: "zonerelay_backend_operation_duration_seconds",
    help: "Latency of queue and body store operations, by port, operation and result (ok, error).",
    labelNames: ["port", "operation", "result"] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "zonerelay_queue_deliveries",
    help: "Open deliveries in the queue by zone and state (queued, deferred, held); read at scrape time.",
    labelNames: ["zone", "state"] as const,
    registers: [this.registry],
  });
  readonly suspensions = new Gauge({
    name: "zonerelay_suspensions",
    help: "Local IP × destination pairs suspended after blocklist or throttling replies, by local IP.",
    labelNames: ["local_ip"] as const,
    registers: [this.registry],
  });
  readonly warmupDay = new Gauge({
    name: "zonerelay_warmup_day",
    help: "Day of its warm-up schedule a warming local IP is on (absent once warm).",
    labelNames: ["local_ip"] as const,
    registers: [this.registry],
  });
  readonly warmupCap = new Gauge({
    name: "zonerelay_warmup_cap_messages",
    help: "Warm-up cap of a local IP for the current day or hour.",
    labelNames: ["local_ip", "period"] as const,
    registers: [this.registry],
  });
  readonly warmupSent = new Gauge({
    name: "zonerelay_warmup_sent_messages",
    help: "Messages a warming local IP has sent (reserved) in the current UTC day or hour, across all hosts.",
    labelNames: ["local_ip", "period"] as const,
    registers: [this.registry],
  });
  readonly scrapeErrors = new Counter({
    name: "zonerelay_metrics_collect_errors_total",
    help: "Scrape-time reads that failed (a backend was unavailable), by collector.",
    labelNames: ["collector"] as const,
    registers: [this.registry],
  });

  constructor(options: MetricsOptions) {
    this.destinations = new DestinationLabels(
      options.destinationLabels,
      new Set(options.destinations.map((d) => d.toLowerCase())),
    );
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Adds a scrape-time reader; `collect` sets its gauges from a backend. */
  addCollector(name: string, collect: () => Promise<void>) {
    this.collectors.push({ name, collect });
  }

  /** The text exposition after running every collector; a collector that fails keeps its last values. */
  async scrape(): Promise<string> {
    await Promise.all(
      this.collectors.map((c) =>
        c.collect().catch(() => {
          this.scrapeErrors.inc({ collector: c.name });
        }),
      ),
    );
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  recordAttempt(a: Parameters<DeliveryMetrics["recordAttempt"]>[0]) {
    const destination = this.destinations.of(a.domain);
    this.attempts.inc({ zone: a.zone, local_ip: a.localAddress ?? "none", destination, outcome: a.outcome });
    this.attemptDuration.observe({ zone: a.zone, outcome: a.outcome }, a.durationMs / 1000);
    if (a.tlsPolicy) this.tlsPolicyAttempts.inc({ zone: a.zone, policy: a.tlsPolicy, outcome: a.outcome });
    if (a.outcome === "delivered") this.latency.observe({ zone: a.zone }, Math.max(0, a.at - a.receivedAt) / 1000);
  }

  recordAccepted(a: Parameters<IntakeMetrics["recordAccepted"]>[0]) {
    this.messagesAccepted.inc({ interface: a.interface });
    for (const d of a.deliveries) {
      const domain = d.recipient.slice(d.recipient.lastIndexOf("@") + 1);
      this.deliveriesAccepted.inc({ zone: d.zone, destination: this.destinations.of(domain) });
    }
  }

  recordSmtpSession(smtpInterface: string) {
    this.smtpSessions.inc({ interface: smtpInterface });
  }

  recordSmtpReject(smtpInterface: string, reason: string) {
    this.smtpRejects.inc({ interface: smtpInterface, reason });
  }

  observeBackend(port: string, operation: string, seconds: number, ok: boolean) {
    this.backendDuration.observe({ port, operation, result: ok ? "ok" : "error" }, seconds);
  }
}

export function createMetrics(options: MetricsOptions): Metrics {
  return new Metrics(options);
}

/**
 * Wraps every promise-returning method of a port so its latency is observed; other members pass through.
 * Used on Queue and BodyStore in the composition root, so adapters stay unaware of metrics.
 */
export function instrumentPort<T extends object>(port: T, name: string, metrics: BackendMetrics): T {
  const timed = new Map<PropertyKey, unknown>();
  return new Proxy(port, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || prop === "unhealthyReason" || prop === "list") return value;
      let wrapper = timed.get(prop);
      if (!wrapper) {
        wrapper = (...args: unknown[]) => {
          const started = performance.now();
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (!(result instanceof Promise)) return result;
          return result.then(
            (v) => {
              metrics.observeBackend(name, String(prop), (performance.now() - started) / 1000, true);
              return v;
            },
            (err) => {
              metrics.observeBackend(name, String(prop), (performance.now() - started) / 1000, false);
              throw err;
            },
          );
        };
        timed.set(prop, wrapper);
      }
      return wrapper;
    },
  });
}
