// Where to deliver a domain's mail: a static route, the zone's smarthost, or its MX hosts (RFC 5321 §5.1),
// each resolved to addresses, in preference order.
import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import type { Config, ZoneConfig } from "../../shared/config/schema.ts";
import { DeliveryError } from "./delivery-error.ts";

export interface MxHost {
  /** Host name (used for TLS SNI and logs) or the literal address. */
  host: string;
  port: number;
  /** Addresses to try, IPv6 first only when the zone prefers it. */
  addresses: string[];
  /** Set for a static route or the zone's smarthost: a configured name, not the domain's MX (no MTA-STS). */
  configured?: "route" | "smarthost";
}

export interface MxResolver {
  resolve(domain: string, zone: ZoneConfig): Promise<MxHost[]>;
}

const TEMPORARY_DNS = new Set(["ESERVFAIL", "ETIMEOUT", "ECONNREFUSED", "EREFUSED", "ETIMEDOUT", "ECANCELLED"]);

export function createMxResolver(config: Readonly<Config>): MxResolver {
  const resolver = new Resolver({ timeout: config.dns.timeout, tries: 2 });
  if (config.dns.nameservers.length) resolver.setServers([...config.dns.nameservers]);

  async function addressesOf(host: string, zone: ZoneConfig): Promise<string[]> {
    if (isIP(host)) return [host];
    const [v4, v6] = await Promise.all([
      resolver.resolve4(host).catch(noData),
      zone.ignoreIPv6 ? Promise.resolve([]) : resolver.resolve6(host).catch(noData),
    ]);
    return zone.preferIPv6 ? [...v6, ...v4] : [...v4, ...v6];
  }

  function noData(err: NodeJS.ErrnoException): string[] {
    if (err.code === "ENODATA" || err.code === "ENOTFOUND") return [];
    throw err;
  }

  function dnsError(err: unknown, domain: string): DeliveryError {
    const code = (err as NodeJS.ErrnoException).code ?? "EDNS";
    if (err instanceof DeliveryError) return err;
    return new DeliveryError(`DNS lookup for ${domain} failed (${code})`, {
      errorCode: code,
      stage: "dns",
      permanent: !TEMPORARY_DNS.has(code) && code === "ENOTFOUND",
    });
  }

  return {
    async resolve(domain, zone) {
      const ascii = domainToASCII(domain) || domain;
      try {
        const route = config.routes[domain] ?? config.routes[ascii];
        if (route?.host)
          return [
            { host: route.host, port: route.port, addresses: await addressesOf(route.host, zone), configured: "route" },
          ];
        if (zone.host) {
          return [
            {
              host: zone.host,
              port: zone.port,
              addresses: await addressesOf(zone.host, zone),
              configured: "smarthost",
            },
          ];
        }

        let records: { exchange: string; priority: number }[];
        try {
          records = await resolver.resolveMx(ascii);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENODATA") throw err;
          records = []; // RFC 5321 §5.1: no MX records → the domain itself is the implicit MX
        }
        if (records.some((r) => r.exchange === "" || r.exchange === ".")) {
          // RFC 7505: a null MX says the domain accepts no mail at all.
          throw new DeliveryError(`Domain ${domain} does not accept mail (null MX)`, {
            stage: "dns",
            errorCode: "ENULLMX",
            permanent: true,
          });
        }
        const hosts = records.length
          ? [...records].sort((a, b) => a.priority - b.priority).map((r) => r.exchange)
          : [ascii];
        const resolved = await Promise.all(
          hosts.map(async (host) => ({ host, port: zone.port, addresses: await addressesOf(host, zone) })),
        );
        const usable = resolved.filter((h) => h.addresses.length > 0);
        if (usable.length === 0) {
          throw new DeliveryError(`No address found for the mail exchangers of ${domain}`, {
            stage: "dns",
            errorCode: records.length ? "ENOADDR" : "ENOTFOUND",
            // An implicit MX without address means the domain has no mail service; a named MX may be fixed soon.
            permanent: records.length === 0,
          });
        }
        return usable;
      } catch (err) {
        throw dnsError(err, domain);
      }
    },
  };
}
