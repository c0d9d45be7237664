// The single source of ZoneRelay's configuration: types, defaults (= the embedded mode) and documentation.
import { z } from "zod";
import { duration, size } from "./units.ts";

const port = () => z.number().int().min(0).max(65535);
const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+)(:\d{1,5})?$/, "expected host or host:port, e.g. 127.0.0.1:5353");

const tlsFiles = z
  .object({
    key: z.string().describe("Path to the PEM private key."),
    cert: z.string().describe("Path to the PEM certificate chain."),
  })
  .strict();

const smtpInterface = z
  .object({
    enabled: z.boolean().default(true).describe("Start this interface."),
    host: z.string().default("127.0.0.1").describe("Address to listen on."),
    port: port().default(2525).describe("Port to listen on (0 = kernel-chosen)."),
    tls: tlsFiles.optional().describe("Key and certificate; when set, STARTTLS is offered."),
    allowedNetworks: z
      .array(z.string())
      .default(["127.0.0.0/8", "::1/128"])
      .describe("CIDR ranges whose clients may relay without AUTH. Everyone else must authenticate."),
    allowInsecureAuth: z
      .boolean()
      .default(false)
      .describe("Allow AUTH before STARTTLS from non-loopback clients (never do this on a public network)."),
    maxSize: size().prefault("25MB").describe("Largest accepted message; a larger SIZE= is refused with 552."),
    maxRecipients: z.number().int().positive().default(100).describe("Most RCPT TO per transaction (452 beyond)."),
    maxClients: z.number().int().positive().default(500).describe("Most concurrent client connections."),
    socketTimeout: duration().prefault("5m").describe("Idle time before a client is disconnected."),
    zone: z.string().optional().describe("Sending zone for messages received here (default: routing rules)."),
  })
  .strict()
  .describe("One SMTP listener.");

const user = z
  .object({
    password: z
      .string()
      .regex(/^scrypt\$/, "expected a hash made by `zonerelay hash-password` (starts with scrypt$)")
      .describe("scrypt hash of the password (`zonerelay hash-password`)."),
    zones: z.array(z.string()).optional().describe("Zones this user may send through (default: all)."),
  })
  .strict()
  .describe("One SMTP AUTH user.");

const apiKey = z
  .object({
    id: z.string().min(1).describe("Name of the key, shown in logs and the audit trail."),
    hash: z
      .string()
      .regex(/^sha256:[0-9a-f]{64}$/, "expected sha256:<64 hex digits> (`zonerelay hash-api-key`)")
      .describe("sha256 of the key (`zonerelay hash-api-key`); the key itself is never stored."),
    zones: z.array(z.string()).optional().describe("Zones this key may send through (default: all)."),
  })
  .strict()
  .describe("One API key.");

const api = z
  .object({
    enabled: z.boolean().default(true).describe("Start the HTTP API."),
    host: z.string().default("127.0.0.1").describe("Address to listen on. Without keys only loopback is allowed."),
    port: port().default(12080).describe("Port to listen on (0 = kernel-chosen)."),
    maxSize: size().prefault("25MB").describe("Largest accepted message, counted while streaming."),
    keys: z.array(apiKey).default([]).describe("API keys (Authorization: Bearer). Empty = loopback-only, no auth."),
    idempotencyTtl: duration().prefault("24h").describe("How long an Idempotency-Key is remembered."),
  })
  .strict();

const queue = z
  .object({
    spoolDir: z.string().default("./data/spool").describe("Directory of message bodies (fs body store)."),
    dbPath: z.string().default("./data/queue.sqlite").describe("SQLite queue file (local queue)."),
    maxQueueTime: duration().prefault("30d").describe("How long a message is retried before it bounces."),
    retrySchedule: z
      .array(duration())
      .min(1)
      .prefault(["5m", "7m", "8m", "25m", "75m", "120m", "240m"])
      .describe("Delay before retry n (the last entry repeats); ZoneMTA's 5,7,8,25,75,120,240 min."),
    leaseTime: duration().prefault("5m").describe("How long a sender owns leased deliveries before they return."),
    pollInterval: duration().prefault("1s").describe("How often an idle sender looks for due deliveries."),
  })
  .strict();

const dns = z
  .object({
    nameservers: z
      .array(hostPort)
      .default([])
      .describe('Resolvers for MX/A/AAAA lookups, "ip" or "ip:port" (empty = the system resolvers).'),
    timeout: duration().prefault("5s").describe("Timeout of one DNS query."),
  })
  .strict();

const route = z
  .object({
    host: z.string().describe("Host (name or IP) that receives all mail for the domain."),
    port: port().default(25).describe("Its port."),
  })
  .strict()
  .describe("Where one domain's mail goes.");

const poolAddress = z
  .object({
    address: z.string().default("0.0.0.0").describe("Local address to bind (0.0.0.0 / :: = let the OS choose)."),
    name: z.string().optional().describe("EHLO name for connections from this address (default: hostname)."),
  })
  .strict()
  .describe("One local address of a pool.");

const zone = z
  .object({
    connections: z.number().int().positive().default(5).describe("Parallel outbound connections of this zone."),
    pool: z.string().default("default").describe("Name of the IP pool (key of `pools`) the zone sends from."),
    port: port().default(25).describe("Port of the MX hosts (override for tests)."),
    host: z.string().optional().describe("Smarthost: send everything to this host instead of the MX."),
    ignoreIPv6: z.boolean().default(false).describe("Never connect to IPv6 MX addresses."),
    connectionCache: z
      .object({
        ttl: duration().prefault("30s").describe("How long an idle connection is kept for reuse."),
        reuseCount: z.number().int().positive().default(100).describe("Messages per connection before reconnecting."),
      })
      .strict()
      .prefault({})
      .describe("Reuse of outbound connections for consecutive deliveries to one destination."),
    timeouts: z
      .object({
        connect: duration().prefault("2m").describe("TCP connect timeout."),
        greeting: duration().prefault("30s").describe("Wait for the 220 greeting."),
        socket: duration().prefault("10m").describe("Inactivity timeout for any other step."),
      })
      .strict()
      .prefault({})
      .describe("Outbound SMTP timeouts (ZoneMTA's values)."),
  })
  .strict()
  .describe("One sending zone.");

const domainSettings = z
  .object({
    maxConnections: z.number().int().positive().default(5).describe("Parallel connections to this domain per host."),
  })
  .strict()
  .describe("Settings of one destination domain (`default` applies to all others).");

export const configSchema = z
  .object({
    hostname: z
      .string()
      .default("")
      .describe("Name in Received headers, Message-IDs and default EHLO (empty = the OS host name)."),
    log: z
      .object({
        level: z
          .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
          .default("info")
          .describe("pino log level (LOG_LEVEL overrides)."),
      })
      .strict()
      .prefault({})
      .describe("Logging."),
    smtpInterfaces: z
      .record(z.string(), smtpInterface)
      .prefault({ feeder: {} })
      .describe("SMTP listeners by name (ZoneMTA: smtpInterfaces). Default: `feeder` on 127.0.0.1:2525."),
    users: z.record(z.string(), user).default({}).describe("SMTP AUTH users by username."),
    api: api.prefault({}).describe("The HTTP API."),
    queue: queue.prefault({}).describe("Spool, queue and retries."),
    dns: dns.prefault({}).describe("DNS resolution for delivery."),
    routes: z
      .record(z.string(), route)
      .default({})
      .describe("Static routes by recipient domain (like Postfix transport maps); skip MX lookup."),
    pools: z
      .record(z.string(), z.array(poolAddress).min(1).describe("The addresses of one pool."))
      .default({ default: [{ address: "0.0.0.0" }] })
      .describe("Named pools of local addresses; outbound connections bind to one of them."),
    zones: z
      .record(z.string(), zone)
      .prefault({ default: {} })
      .describe("Sending zones by name; `default` must exist."),
    domainConfig: z.record(z.string(), domainSettings).default({}).describe("Per-destination-domain settings."),
    bounces: z
      .object({
        enabled: z.boolean().default(true).describe("Send a DSN to the envelope sender when a delivery fails."),
        from: z.string().optional().describe("From address of DSNs (default: MAILER-DAEMON@hostname)."),
      })
      .strict()
      .prefault({})
      .describe("Delivery status notifications."),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (!cfg.zones.default)
      ctx.addIssue({ code: "custom", path: ["zones"], message: "a zone named `default` is required" });
    for (const [name, z_] of Object.entries(cfg.zones)) {
      if (!cfg.pools[z_.pool]) {
        ctx.addIssue({ code: "custom", path: ["zones", name, "pool"], message: `no pool named "${z_.pool}" in pools` });
      }
    }
    for (const [name, iface] of Object.entries(cfg.smtpInterfaces)) {
      if (iface.zone && !cfg.zones[iface.zone]) {
        ctx.addIssue({
          code: "custom",
          path: ["smtpInterfaces", name, "zone"],
          message: `no zone named "${iface.zone}"`,
        });
      }
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type SmtpInterfaceConfig = Config["smtpInterfaces"][string];
export type ZoneConfig = Config["zones"][string];
