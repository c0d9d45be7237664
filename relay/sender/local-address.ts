// Picks the local address (and its EHLO name) for an outbound connection from the zone's pool, round robin,
// matching the address family of the destination.
import { isIP } from "node:net";

export interface PoolEntry {
  address: string;
  name?: string | undefined;
}

export interface LocalBinding {
  /** undefined = let the OS choose (pool entry 0.0.0.0 or ::). */
  localAddress: string | undefined;
  name: string;
}

export function createAddressPicker(pool: readonly PoolEntry[], hostname: string) {
  let next = 0;
  return (remoteAddress: string): LocalBinding | undefined => {
    const family = isIP(remoteAddress);
    const candidates = pool.filter((p) => {
      const f = isIP(p.address);
      return f === family || p.address === "0.0.0.0" || p.address === "::";
    });
    if (candidates.length === 0) return undefined;
    const entry = candidates[next++ % candidates.length]!;
    const any = entry.address === "0.0.0.0" || entry.address === "::";
    return { localAddress: any ? undefined : entry.address, name: entry.name ?? hostname };
  };
}
