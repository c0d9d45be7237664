// The single source of ZoneRelay's configuration: types, defaults (= the embedded mode) and documentation.
import { z } from "zod";
import { duration, rate, size } from "./units.ts";

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
    allowRoutingHeaders: z
      .boolean()
      .default(false)
      .describe("Trust an `X-Sending-Zone` header from clients of this interface (it is always removed)."),
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

const adminUser = z
  .object({
    password: z
      .string()
      .regex(/^scrypt\$/, "expected a hash made by `zonerelay hash-password` (starts with scrypt$)")
      .describe("scrypt hash of the password (`zonerelay hash-password`)."),
  })
  .strict()
  .describe("One user of the web admin; an admin may do everything an API key without `zones` may.");

const admin = z
  .object({
    enabled: z.boolean().default(true).describe("Serve the web admin at /admin (only with at least one user)."),
    users: z.record(z.string(), adminUser).default({}).describe("Admin users by name. None = no web admin."),
    sessionTtl: duration().prefault("8h").describe("How long an admin login lasts."),
    sessionSecret: z
      .string()
      .min(32)
      .optional()
      .describe(
        "Secret (≥ 32 characters) that signs session cookies; set the same on every host behind one admin URL " +
          "(default: random per process, so a restart logs admins out).",
      ),
  })
  .strict();

const authThrottle = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "Throttle failed logins (SMTP AUTH, API keys, web admin); counted in the coordinator, so on all hosts.",
      ),
    ipFailures: z
      .number()
      .int()
      .positive()
      .default(10)
      .describe("Failed logins from one client address (IPv6: its /64) within `window` before it is locked out."),
    userFailures: z
      .number()
      .int()
      .positive()
      .default(5)
      .describe(
        "Failed logins for one username (SMTP AUTH, web admin), from anywhere, within `window` before a lockout.",
      ),
    window: duration().prefault("15m").describe("Period in which failures are counted."),
    lockout: duration()
      .prefault("5m")
      .describe("First lockout (SMTP 454 4.7.0, HTTP 429); each further one that day doubles, up to `maxLockout`."),
    maxLockout: duration().prefault("1h").describe("Longest lockout."),
  })
  .strict();

const metrics = z
  .object({
    enabled: z.boolean().default(true).describe("Serve Prometheus metrics at /metrics on the HTTP API."),
    public: z
      .boolean()
      .default(false)
      .describe("Serve /metrics without an API key (a scraper on a private network); else an unscoped key."),
    destinationLabels: z
      .number()
      .int()
      .min(0)
      .default(20)
      .describe('Destination domains that get their own label value; the rest are "other" (bounded cardinality).'),
    destinations: z
      .array(z.string())
      .default([])
      .describe("Destination domains that always get their own label (e.g. gmail.com, outlook.com)."),
    processMetrics: z
      .boolean()
      .default(true)
      .describe("Also export Node's process metrics (CPU, memory, GC, event loop)."),
  })
  .strict();

const queue = z
  .object({
    backend: z
      .enum(["local", "mongo", "sqs"])
      .default("local")
      .describe("Where deliveries wait: `local` SQLite (one process), `mongo` (many hosts, `dbs.mongo`), `sqs` (AWS)."),
    bodies: z
      .enum(["fs", "gridfs", "s3"])
      .optional()
      .describe("Where message bodies live (default: `fs` with local, `gridfs` with mongo, `s3` with sqs)."),
    spoolDir: z
      .string()
      .default("./data/spool")
      .describe(
        "Directory of message bodies (fs body store): up to 256 KiB appended to the body log (`log/`), larger ones as files.",
      ),
    dbPath: z.string().default("./data/queue.sqlite").describe("SQLite queue file (local queue)."),
    collection: z
      .string()
      .default("zone-queue")
      .describe("MongoDB collection of deliveries (mongo queue; ZoneMTA's name)."),
    gfs: z.string().default("mail").describe("GridFS bucket of message bodies (gridfs body store; ZoneMTA's name)."),
    instanceId: z
      .string()
      .optional()
      .describe("Pin this host's deferred deliveries to it (mongo queue), as ZoneMTA's instanceId does."),
    maxQueueTime: duration().prefault("30d").describe("How long a message is retried before it bounces."),
    retrySchedule: z
      .array(duration())
      .min(1)
      .prefault(["5m", "7m", "8m", "25m", "75m", "120m", "240m"])
      .describe("Delay before retry n (the last entry repeats); ZoneMTA's 5,7,8,25,75,120,240 min."),
    leaseTime: duration().prefault("5m").describe("How long a sender owns leased deliveries before they return."),
    pollInterval: duration().prefault("1s").describe("How often an idle sender looks for due deliveries."),
    watchdog: duration()
      .prefault("2m")
      .describe("A zone with work due this long and no progress is reported and woken (liveness)."),
    holdFutureDated: z
      .boolean()
      .default(false)
      .describe("Hold a message whose Date header is 5 min to 1 year ahead until that time (ZoneMTA's deferral)."),
  })
  .strict();

const dbs = z
  .object({
    mongo: z.string().optional().describe("MongoDB connection URL, database included (ZoneMTA: dbs.mongo)."),
    redis: z
      .string()
      .optional()
      .describe(
        "Redis URL for locks, counters and throttles shared by all hosts (ZoneMTA: dbs.redis); unset = in-process.",
      ),
    redisPrefix: z.string().default("zr:").describe("Prefix of every Redis key."),
  })
  .strict();

const aws = z
  .object({
    region: z.string().default("us-east-1").describe("AWS region of the bucket and queues."),
    endpoint: z
      .string()
      .optional()
      .describe("S3/SQS-compatible endpoint for both services (emulators, MinIO); unset = AWS."),
    s3Endpoint: z.string().optional().describe("S3 endpoint, when it differs from `endpoint`."),
    sqsEndpoint: z.string().optional().describe("SQS endpoint, when it differs from `endpoint`."),
    bucket: z.string().optional().describe("S3 bucket of message bodies (s3 body store)."),
    prefix: z.string().default("bodies/").describe("Key prefix of bodies in the bucket."),
    statusBucket: z
      .string()
      .optional()
      .describe("S3 bucket of per-message status with the sqs queue (default: `bucket`)."),
    queuePrefix: z.string().default("zonerelay").describe("SQS queues are named `<queuePrefix>-<zone>` (+ `-dlq`)."),
  })
  .strict();

const uploads = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe("Offer `POST /v1/uploads`: a message too large for one request is PUT to a URL, then submitted by id."),
    ttl: duration().prefault("1h").describe("How long an upload URL accepts the PUT."),
    expireAfter: duration()
      .prefault("1d")
      .describe("An upload not submitted within this time is removed (fs: swept; s3: the bucket's lifecycle rule)."),
    dir: z
      .string()
      .optional()
      .describe("Directory of staged uploads (with the fs body store; default: `uploads` beside `queue.spoolDir`)."),
    prefix: z.string().default("uploads/").describe("Key prefix of staged uploads in `aws.bucket` (with s3 bodies)."),
    secret: z
      .string()
      .min(32)
      .optional()
      .describe(
        "Secret (≥ 32 characters) that signs this API's own upload URLs (fs); the same on every host behind one URL " +
          "(default: random per process).",
      ),
    publicUrl: z
      .string()
      .url()
      .optional()
      .describe("Base URL clients reach this API at, for upload URLs it serves itself (default: the request's)."),
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

const outboundTls = z
  .object({
    caFile: z
      .string()
      .optional()
      .describe(
        "PEM file of extra trusted CAs for verified outbound TLS (MTA-STS, requireTLS, policy fetches and TLS-RPT " +
          "uploads); the system CAs stay trusted.",
      ),
    mtaSts: z
      .object({
        enabled: z.boolean().default(true).describe("Apply the MTA-STS policies destinations publish (RFC 8461)."),
        port: port().default(443).describe("HTTPS port of `mta-sts.<domain>` policy hosts (override for tests)."),
        timeout: duration().prefault("10s").describe("Timeout of one policy fetch."),
      })
      .strict()
      .prefault({})
      .describe("MTA-STS: policies cached for their max_age in the coordinator (shared by every host with Redis)."),
    dane: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            "Apply DANE TLSA records of MX hosts (RFC 7672), only when the resolver validated them with DNSSEC (AD bit).",
          ),
      })
      .strict()
      .prefault({})
      .describe("DANE for SMTP; needs a validating resolver in `dns.nameservers`."),
    reports: z
      .object({
        enabled: z
          .boolean()
          .default(false)
          .describe("Count TLS sessions per destination and send daily TLS-RPT reports (RFC 8460) where asked."),
        organizationName: z.string().optional().describe("organization-name of reports (default: hostname)."),
        contactInfo: z.string().optional().describe("contact-info of reports (default: the `from` address)."),
        from: z
          .string()
          .optional()
          .describe("From address of reports sent by mail (default: tlsrpt-noreply@hostname)."),
        via: z
          .array(z.enum(["mailto", "https"]))
          .default(["mailto", "https"])
          .describe("Which `rua` destinations to use: by mail through the normal pipeline, by HTTPS POST, or both."),
        at: z
          .string()
          .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "a UTC time like 01:30")
          .default("01:00")
          .describe("UTC time of day when yesterday's reports are sent (one host sends; a lock keeps it once)."),
      })
      .strict()
      .prefault({})
      .describe("SMTP TLS reporting."),
  })
  .strict();

const httpDelivery = z
  .object({
    url: z.string().url().describe("URL that receives each message by POST (raw RFC 5322 body, envelope in headers)."),
    headers: z
      .record(z.string(), z.string().describe("Header value."))
      .default({})
      .describe("Extra request headers (e.g. Authorization)."),
    timeout: duration().prefault("30s").describe("Request timeout; a timeout defers."),
  })
  .strict()
  .describe("Delivery by HTTP POST instead of SMTP: 2xx delivered, 4xx (but 400/404/410/413/422) and 5xx deferred.");

const route = z
  .object({
    host: z.string().optional().describe("Host (name or IP) that receives all mail for the domain."),
    port: port().default(25).describe("Its port."),
    http: httpDelivery.optional().describe("Deliver this domain's mail by HTTP POST instead."),
  })
  .strict()
  .refine((r) => Boolean(r.host) !== Boolean(r.http), { message: "a route needs exactly one of `host` or `http`" })
  .describe("Where one domain's mail goes.");

const poolAddress = z
  .object({
    address: z.string().default("0.0.0.0").describe("Local address to bind (0.0.0.0 / :: = let the OS choose)."),
    name: z.string().optional().describe("EHLO name for connections from this address (default: hostname)."),
    weight: z.number().positive().default(1).describe("Share of connections relative to the pool's other addresses."),
    warmup: z
      .object({
        since: z
          .string()
          .regex(/^\d{4}-\d{2}-\d{2}$/, "a date like 2026-11-25")
          .describe("First day (UTC) this address sent mail; day 1 of its schedule."),
        schedule: z.string().default("default").describe("Name of the schedule (key of `warmupSchedules`)."),
      })
      .strict()
      .optional()
      .describe("A new address sends at most its schedule's volume per day/hour; overflow goes to warm addresses."),
  })
  .strict()
  .describe("One local address of a pool.");

const warmupStep = z
  .object({
    day: z.number().int().positive().describe("From this day of the warm-up on (1 = the first day)."),
    perDay: z.number().int().positive().describe("Most messages per UTC day from the address."),
    perHour: z.number().int().positive().optional().describe("Most messages per hour (smooths the day)."),
  })
  .strict();

/** A conservative ramp (doubling roughly every other day), warm after about a month. */
const DEFAULT_WARMUP = [
  { day: 1, perDay: 50 },
  { day: 2, perDay: 100 },
  { day: 3, perDay: 200 },
  { day: 5, perDay: 500 },
  { day: 7, perDay: 1000 },
  { day: 10, perDay: 5000 },
  { day: 14, perDay: 10_000 },
  { day: 21, perDay: 50_000 },
  { day: 30, perDay: 100_000 },
];

const zone = z
  .object({
    connections: z.number().int().positive().default(5).describe("Parallel outbound connections of this zone."),
    pool: z.string().default("default").describe("Name of the IP pool (key of `pools`) the zone sends from."),
    port: port().default(25).describe("Port of the MX hosts (override for tests)."),
    host: z.string().optional().describe("Smarthost: send everything to this host instead of the MX."),
    auth: z
      .object({
        user: z.string().describe("Username."),
        pass: z.string().describe("Password (or set it from the environment)."),
      })
      .strict()
      .optional()
      .describe("AUTH credentials for the smarthost (sent only over TLS)."),
    http: httpDelivery.optional().describe("Deliver everything of this zone by HTTP POST instead of SMTP."),
    ignoreIPv6: z.boolean().default(false).describe("Never connect to IPv6 MX addresses."),
    preferIPv6: z.boolean().default(false).describe("Try IPv6 MX addresses before IPv4 ones."),
    throttling: rate()
      .optional()
      .describe('Most messages this zone sends, across all hosts, e.g. "100 messages/second" (smoothed).'),
    recipientDomains: z
      .array(z.string())
      .default([])
      .describe("Recipients at these domains go through this zone (routing; `*.example.com` matches subdomains)."),
    senderDomains: z
      .array(z.string())
      .default([])
      .describe("Messages whose envelope sender is at these domains go through this zone (routing)."),
    routingHeaders: z
      .record(z.string(), z.string().describe("The value the header must have."))
      .default({})
      .describe('Messages with all of these header values go through this zone, e.g. `{ x-user-id: "123" }`.'),
    connectionCache: z
      .object({
        ttl: duration().prefault("30s").describe("How long an idle connection is kept for reuse."),
        reuseCount: z.number().int().positive().default(100).describe("Messages per connection before reconnecting."),
      })
      .strict()
      .prefault({})
      .describe("Reuse of outbound connections for consecutive deliveries to one destination."),
    requireTLS: z
      .boolean()
      .default(false)
      .describe(
        "Deliver only over TLS with a certificate valid for the host name (like MTA-STS enforce); never in plain text.",
      ),
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
    maxConnections: z
      .number()
      .int()
      .positive()
      .default(5)
      .describe("Parallel connections to this destination, across all hosts of the cluster."),
    throttling: rate()
      .optional()
      .describe('Most messages to this destination per zone across all hosts, e.g. "300 messages/minute".'),
    ipThrottling: rate().optional().describe("Most messages from one local address to this destination."),
    disabledAddresses: z
      .array(z.string())
      .default([])
      .describe("Local addresses never used for this destination (e.g. an IP it has blocked for good)."),
    requireTLS: z
      .boolean()
      .optional()
      .describe("Require verified TLS for this recipient domain (overrides the zone's `requireTLS`)."),
  })
  .strict()
  .describe(
    "Settings of one destination: a recipient domain or, with MX roll-up, a provider such as `google.com` " +
      "(`default` applies to all others).",
  );

/** RFC 6376 §5.4.1's recommended fields (mailauth's default list): what a forwarder must not change. */
const DKIM_HEADERS = [
  "From",
  "Sender",
  "Reply-To",
  "Subject",
  "Date",
  "Message-ID",
  "To",
  "Cc",
  "MIME-Version",
  "Content-Type",
  "Content-Transfer-Encoding",
  "Content-ID",
  "Content-Description",
  "Resent-Date",
  "Resent-From",
  "Resent-Sender",
  "Resent-To",
  "Resent-Cc",
  "Resent-Message-ID",
  "In-Reply-To",
  "References",
  "List-Id",
  "List-Help",
  "List-Unsubscribe",
  "List-Unsubscribe-Post",
  "List-Subscribe",
  "List-Post",
  "List-Owner",
  "List-Archive",
  "Feedback-ID",
];

const canonicalization = z.enum(["relaxed/relaxed", "relaxed/simple", "simple/relaxed", "simple/simple"]);

const dkimKey = z
  .object({
    domain: z
      .string()
      .min(1)
      .describe("Signing domain (d=). A message is signed with the keys of its From: domain, or of a parent domain."),
    selector: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "a DNS label such as `s2026`")
      .describe("Selector (s=): the public key is published in TXT at `<selector>._domainkey.<domain>`."),
    privateKey: z.string().optional().describe("The PEM private key itself (e.g. from the environment)."),
    privateKeyFile: z.string().optional().describe("Path to the PEM private key (PKCS#8 or PKCS#1)."),
    algorithm: z
      .enum(["rsa-sha256", "ed25519-sha256"])
      .optional()
      .describe("Signature algorithm (default: from the key type). RSA keys need at least 2048 bits."),
    canonicalization: canonicalization
      .optional()
      .describe("Canonicalisation of this key's signatures (default: `dkim.canonicalization`)."),
  })
  .strict()
  .refine((k) => (k.privateKey === undefined) !== (k.privateKeyFile === undefined), {
    message: "a DKIM key needs exactly one of `privateKey` or `privateKeyFile`",
  })
  .describe("One DKIM key; several keys for one domain make several signatures (e.g. RSA and Ed25519).");

const dkim = z
  .object({
    keys: z.array(dkimKey).default([]).describe("Signing keys; none = no DKIM signatures."),
    canonicalization: canonicalization
      .default("relaxed/relaxed")
      .describe("Header/body canonicalisation (RFC 6376 §3.4); body hashes are computed at intake for those in use."),
    headers: z.array(z.string()).default(DKIM_HEADERS).describe("Header fields to sign (every instance present)."),
    overSign: z
      .array(z.string())
      .default(["From"])
      .describe("Fields signed once more than they occur, so none can be added later (From always is)."),
    signTransportDomain: z
      .boolean()
      .default(false)
      .describe("Also sign with the keys of the connection's EHLO name (or its parent domain), as ZoneMTA does."),
    expiresIn: duration().optional().describe("Signature lifetime (x= tag); unset = no expiry."),
  })
  .strict();

const pluginEntry = z
  .object({
    use: z
      .string()
      .min(1)
      .describe(
        "`core/<name>` for a built-in plugin, a path (`./plugins/x.ts`, relative to the config file) or an npm package name.",
      ),
    enabled: z.boolean().default(true).describe("Load this plugin."),
    options: z
      .record(z.string(), z.unknown().describe("An option value."))
      .default({})
      .describe("The plugin's own options (each plugin validates its own; see docs/plugins.md)."),
  })
  .strict()
  .describe("One plugin; hooks run in the order of this list.");

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
    threadPool: z
      .object({
        nice: z
          .number()
          .int()
          .min(0)
          .max(19)
          .default(10)
          .describe(
            "Nice value (0-19) `zonerelay start` gives libuv's thread pool (the body log's durable writes, DKIM's " +
              "RSA signatures) so the event loop's thread, which every message waits for, gets a core first on a " +
              "busy machine. V8's threads keep their priority. 0 leaves the pool alone. Linux only.",
          ),
      })
      .strict()
      .prefault({})
      .describe("CPU priority of libuv's thread pool (docs/operations.md)."),
    smtpInterfaces: z
      .record(z.string(), smtpInterface)
      .prefault({ feeder: {} })
      .describe("SMTP listeners by name (ZoneMTA: smtpInterfaces). Default: `feeder` on 127.0.0.1:2525."),
    users: z.record(z.string(), user).default({}).describe("SMTP AUTH users by username."),
    api: api.prefault({}).describe("The HTTP API."),
    admin: admin.prefault({}).describe("The web admin at /admin."),
    authThrottle: authThrottle.prefault({}).describe("Brute-force protection of every login."),
    metrics: metrics.prefault({}).describe("Prometheus metrics."),
    queue: queue.prefault({}).describe("Spool, queue and retries."),
    dns: dns.prefault({}).describe("DNS resolution for delivery."),
    tls: outboundTls
      .prefault({})
      .describe("Outbound TLS policy: MTA-STS, DANE, trusted CAs and TLS reporting (docs/tls.md)."),
    dbs: dbs.prefault({}).describe("Shared databases of a multi-host cluster."),
    aws: aws.prefault({}).describe("S3 and SQS (the AWS deployment)."),
    uploads: uploads.prefault({}).describe("Staged uploads for messages larger than one request may carry."),
    routes: z
      .record(z.string(), route)
      .default({})
      .describe("Static routes by recipient domain (like Postfix transport maps); skip MX lookup."),
    pools: z
      .record(z.string(), z.array(poolAddress).min(1).describe("The addresses of one pool."))
      .prefault({ default: [{ address: "0.0.0.0" }] })
      .describe("Named pools of local addresses; outbound connections bind to one of them."),
    zones: z
      .record(z.string(), zone)
      .prefault({ default: {} })
      .describe("Sending zones by name; `default` must exist."),
    domainConfig: z.record(z.string(), domainSettings).default({}).describe("Per-destination-domain settings."),
    mxRollup: z
      .boolean()
      .default(true)
      .describe("Destinations whose MX hosts share a provider (all `*.google.com`) share one budget."),
    blacklist: z
      .object({
        ttl: duration()
          .prefault("1h")
          .describe("How long a local address rests for a destination that blocked or throttled it."),
      })
      .strict()
      .prefault({})
      .describe("Automatic back-off of a local address from one destination."),
    warmupSchedules: z
      .record(z.string(), z.array(warmupStep).min(1).describe("Steps of one ramp, by day."))
      .prefault({ default: DEFAULT_WARMUP })
      .describe("Named warm-up ramps: day N of an address → its daily (and hourly) cap."),
    dkim: dkim.prefault({}).describe("DKIM signing at send time (RFC 6376, RFC 8463) from body hashes made at intake."),
    plugins: z.array(pluginEntry).default([]).describe("Plugins, in hook order (docs/plugins.md)."),
    bounces: z
      .object({
        enabled: z.boolean().default(true).describe("Send a DSN to the envelope sender when a delivery fails."),
        from: z.string().optional().describe("From address of DSNs (default: MAILER-DAEMON@hostname)."),
        delayWarning: duration()
          .prefault("3h")
          .describe(
            "Send one delay DSN (action delayed) when a delivery is still deferred this long after arrival; 0 = never.",
          ),
        maxPerSender: z
          .number()
          .int()
          .nonnegative()
          .default(100)
          .describe(
            "Most DSNs to one envelope sender per hour, across hosts (a bounce storm is not a mail flood); 0 = no limit.",
          ),
      })
      .strict()
      .prefault({})
      .describe("Delivery status notifications."),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const bodies = bodiesBackend(cfg.queue);
    if ((cfg.queue.backend === "mongo" || bodies === "gridfs") && !cfg.dbs.mongo) {
      ctx.addIssue({ code: "custom", path: ["dbs", "mongo"], message: "required by the mongo queue / gridfs bodies" });
    }
    if (bodies === "s3" && !cfg.aws.bucket) {
      ctx.addIssue({ code: "custom", path: ["aws", "bucket"], message: "required by the s3 body store" });
    }
    if (cfg.queue.backend === "sqs" && !(cfg.aws.statusBucket ?? cfg.aws.bucket)) {
      ctx.addIssue({
        code: "custom",
        path: ["aws", "statusBucket"],
        message: "required by the sqs queue (or aws.bucket)",
      });
    }
    if (!cfg.zones.default)
      ctx.addIssue({ code: "custom", path: ["zones"], message: "a zone named `default` is required" });
    for (const [name, z_] of Object.entries(cfg.zones)) {
      if (!cfg.pools[z_.pool]) {
        ctx.addIssue({ code: "custom", path: ["zones", name, "pool"], message: `no pool named "${z_.pool}" in pools` });
      }
    }
    for (const [pool, entries] of Object.entries(cfg.pools)) {
      for (const [i, entry] of entries.entries()) {
        if (entry.warmup && !cfg.warmupSchedules[entry.warmup.schedule]) {
          ctx.addIssue({
            code: "custom",
            path: ["pools", pool, i, "warmup", "schedule"],
            message: `no warm-up schedule named "${entry.warmup.schedule}" in warmupSchedules`,
          });
        }
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

/** The body store in effect: the configured one, or the natural partner of the queue backend. */
export function bodiesBackend(queue: {
  backend: "local" | "mongo" | "sqs";
  bodies?: "fs" | "gridfs" | "s3" | undefined;
}) {
  return queue.bodies ?? ({ local: "fs", mongo: "gridfs", sqs: "s3" } as const)[queue.backend];
}
