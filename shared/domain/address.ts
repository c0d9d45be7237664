// Envelope address parsing: split local part and domain, validate, and give the domain its lookup form.
import { domainToASCII } from "node:url";

export interface ParsedAddress {
  local: string;
  /** Lower-cased domain as written (may be Unicode). */
  domain: string;
  /** The domain in A-labels (punycode) for DNS. */
  asciiDomain: string;
}

// RFC 5321 §4.5.3.1: 64 octets of local part, 255 of domain, 254 of path in practice.
const MAX_LOCAL = 64;
const MAX_ADDRESS = 254;

/** Parses an envelope address (no display name, no angle brackets). Returns undefined when invalid. */
export function parseAddress(address: string): ParsedAddress | undefined {
  if (!address || Buffer.byteLength(address) > MAX_ADDRESS || /[\s<>()[\],;\\\x00-\x1f\x7f]/.test(address))
    return undefined;
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) return undefined;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase();
  if (Buffer.byteLength(local) > MAX_LOCAL) return undefined;
  // Relay-test forms (percent hack, bang paths, source routes, quoted @) never pass as an address.
  if (/[%!@":]/.test(local) || local.startsWith(".") || local.endsWith(".") || local.includes("..")) return undefined;
  const asciiDomain = domainToASCII(domain);
  if (!asciiDomain || !/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/.test(asciiDomain)) {
    return undefined;
  }
  // RFC 3696 §2: a top-level domain is never all-numeric, so "victim@127.0.0.12" is an IP in disguise, not a domain
  // (a smarthost or a resolver that reads it as an address would relay to it).
  if (/\.[0-9]+$/.test(asciiDomain)) return undefined;
  return { local, domain, asciiDomain };
}

export function isValidAddress(address: string): boolean {
  return parseAddress(address) !== undefined;
}
