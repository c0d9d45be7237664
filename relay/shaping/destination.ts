// The destination a delivery is shaped against: the recipient domain, or — with MX roll-up — the provider that runs
// its MX hosts, so the thousands of domains hosted by one provider share one connection and rate budget.
import type { Config } from "../../shared/config/schema.ts";

export type DomainSettings = Config["domainConfig"][string];

export interface Destination {
  /** Budget key: the recipient domain, or the provider (e.g. "google.com") under roll-up. */
  key: string;
  settings: DomainSettings;
}

const DEFAULT_SETTINGS: DomainSettings = { maxConnections: 5, disabledAddresses: [] };

// Second-level labels under which registrations happen one level deeper (example.co.uk, example.com.au).
const SECOND_LEVEL = new Set(["co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go"]);

/** The registrable domain of a host name: mx1.mail.example.co.uk → example.co.uk. A heuristic, not the PSL. */
export function providerOf(host: string): string | undefined {
  const labels = host.toLowerCase().replace(/\.$/, "").split(".").filter(Boolean);
  if (labels.length < 2) return undefined;
  const tld = labels.at(-1)!;
  const second = labels.at(-2)!;
  const take = tld.length === 2 && SECOND_LEVEL.has(second) && labels.length >= 3 ? 3 : 2;
  return labels.slice(-take).join(".");
}

/**
 * Settings for a domain: its own entry wins; then (roll-up) its MX provider's entry; then `default`.
 * `mxHosts` are the MX host names in preference order (empty when unknown, a static route or a smarthost).
 */
export function destinationOf(domain: string, mxHosts: readonly string[], config: Readonly<Config>): Destination {
  const dc = config.domainConfig;
  const own = dc[domain];
  if (own) return { key: domain, settings: own };
  const provider = config.mxRollup && mxHosts[0] ? providerOf(mxHosts[0]) : undefined;
  // A domain that is its own MX provider (mx.example.com for example.com) stays itself.
  const key = provider ?? domain;
  return { key, settings: (provider && dc[provider]) || dc.default || DEFAULT_SETTINGS };
}
