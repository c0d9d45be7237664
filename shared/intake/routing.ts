// Which sending zone a delivery goes through. Precedence, first match wins:
//   1. the zone named by the API key, the request or the SMTP interface;
//   2. an `X-Sending-Zone` header, from trusted interfaces only (the header is always removed);
//   3. a zone's `routingHeaders` (all listed header values present);
//   4. a zone's `senderDomains` (envelope sender's domain);
//   5. a zone's `recipientDomains` (per recipient: one message may fan out to several zones);
//   6. `default`.
import type { Config } from "../config/schema.ts";
import type { HeaderLine } from "../mail/headers.ts";
import { headerValue } from "../mail/headers.ts";

export const SENDING_ZONE_HEADER = "x-sending-zone";

export interface RoutingInput {
  /** Zone fixed by the API key / request / interface. */
  explicitZone?: string | undefined;
  headers: readonly HeaderLine[];
  /** The client may choose its zone by header (an interface with `allowRoutingHeaders`). */
  trustRoutingHeader: boolean;
  from: string;
}

export type Router = (input: RoutingInput, recipientDomain: string) => string;

function domainMatches(domain: string, patterns: readonly string[]) {
  const d = domain.toLowerCase();
  return patterns.some((p) => {
    const pattern = p.toLowerCase();
    return pattern.startsWith("*.") ? d.endsWith(pattern.slice(1)) : d === pattern;
  });
}

export function createRouter(config: Readonly<Pick<Config, "zones">>): Router {
  const zones = Object.entries(config.zones);
  return (input, recipientDomain) => {
    if (input.explicitZone) return input.explicitZone;
    if (input.trustRoutingHeader) {
      const requested = headerValue(input.headers, SENDING_ZONE_HEADER)?.trim();
      if (requested && config.zones[requested]) return requested;
    }
    for (const [name, zone] of zones) {
      const wanted = Object.entries(zone.routingHeaders);
      if (
        wanted.length > 0 &&
        wanted.every(([key, value]) => headerValue(input.headers, key.toLowerCase())?.trim() === value)
      ) {
        return name;
      }
    }
    const senderDomain = input.from.slice(input.from.lastIndexOf("@") + 1);
    if (input.from) {
      for (const [name, zone] of zones) if (domainMatches(senderDomain, zone.senderDomains)) return name;
    }
    for (const [name, zone] of zones) if (domainMatches(recipientDomain, zone.recipientDomains)) return name;
    return "default";
  };
}
