// The local address (and its EHLO name) an outbound connection binds to, matching the destination's address family.
import { isIP } from "node:net";
import { domainToASCII } from "node:url";

export interface PoolEntry {
  address: string;
  name?: string | undefined;
}

export interface LocalBinding {
  /** undefined = let the OS choose (pool entry 0.0.0.0 or ::). */
  localAddress: string | undefined;
  name: string;
}

const isAny = (address: string) => address === "0.0.0.0" || address === "::";

function fits(entry: PoolEntry, family: number) {
  return isAny(entry.address) || isIP(entry.address) === family;
}

function toBinding(entry: PoolEntry, hostname: string): LocalBinding {
  // EHLO takes a domain in A-labels (RFC 5321 §4.1.1.1, RFC 5890): a Unicode pool name is converted.
  const name = entry.name ?? hostname;
  return { localAddress: isAny(entry.address) ? undefined : entry.address, name: domainToASCII(name) || name };
}

/**
 * The lane's chosen entry when it can reach `remoteAddress` (same family), else the first usable entry that can
 * (an IPv6 MX from an IPv4-preferring lane); undefined when no usable entry has that family.
 */
export function bindingFor(
  remoteAddress: string,
  chosen: PoolEntry,
  usable: readonly PoolEntry[],
  hostname: string,
): LocalBinding | undefined {
  const family = isIP(remoteAddress);
  if (fits(chosen, family)) return toBinding(chosen, hostname);
  const other = usable.find((e) => fits(e, family));
  return other ? toBinding(other, hostname) : undefined;
}
