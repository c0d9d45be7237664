// The configs the stack hands to the intake function and to each relay host: the operator's relay config with the
// deployment's backends, secrets and this host's addresses filled in. Validated here, at deploy time, by the same
// parser the relay uses at start.
import { parseConfig } from "../../shared/config/load.ts";
import type { HostSlot } from "./addresses.ts";

type Raw = Record<string, unknown>;

/** What only exists once the stack does, plus the secrets (SST secrets, JSON). */
export interface Deployment {
  region: string;
  bucket: string;
  queuePrefix: string;
  /** rediss://… of ElastiCache; undefined without Redis. */
  redisUrl?: string;
  /** `api.keys` entries: `[{ id, hash: "sha256:…", zones? }]`. */
  apiKeys: unknown[];
  /** `dkim.keys` entries with `privateKey` PEMs. */
  dkimKeys: unknown[];
  /** `admin.users` and `admin.sessionSecret`, when the web admin is wanted. */
  admin?: { users: Record<string, { password: string }>; sessionSecret: string };
}

/** The relay API and metrics port on relay hosts (scraped from inside the VPC). */
export const RELAY_API_PORT = 12080;

function withBackends(raw: Raw, d: Deployment): Raw {
  const section = (key: string) => (raw[key] && typeof raw[key] === "object" ? (raw[key] as Raw) : {});
  return {
    ...raw,
    queue: { ...section("queue"), backend: "sqs", bodies: "s3" },
    aws: { ...section("aws"), region: d.region, bucket: d.bucket, queuePrefix: d.queuePrefix },
    dbs: { ...section("dbs"), ...(d.redisUrl ? { redis: d.redisUrl } : {}) },
    api: { ...section("api"), keys: d.apiKeys },
    dkim: { ...section("dkim"), keys: d.dkimKeys },
    ...(d.admin ? { admin: { ...section("admin"), users: d.admin.users, sessionSecret: d.admin.sessionSecret } } : {}),
  };
}

/** The intake function's config (`redisUrl` only when the function runs in the VPC). */
export function intakeConfig(raw: Raw, d: Deployment): Raw {
  const out = withBackends(raw, d);
  // The function has no disk worth keeping and no relay roles: SMTP listeners stay with the relay hosts.
  out.smtpInterfaces = {};
  parseConfig(out);
  return out;
}

/** One relay host's config: its slot's pool addresses, the API (metrics, admin) listening on the VPC. */
export function relayConfig(raw: Raw, d: Deployment, slot: HostSlot): Raw {
  const out = withBackends(raw, d);
  const section = (key: string) => (out[key] && typeof out[key] === "object" ? (out[key] as Raw) : {});
  out.pools = { ...section("pools"), ...slot.pools };
  out.api = { ...section("api"), host: "0.0.0.0", port: RELAY_API_PORT };
  // Prometheus scrapes from inside the VPC (the security group admits only the VPC's range).
  out.metrics = { ...section("metrics"), public: true };
  out.queue = { ...section("queue"), spoolDir: "/var/lib/zonerelay/spool", dbPath: "/var/lib/zonerelay/queue.sqlite" };
  parseConfig(out);
  return out;
}
