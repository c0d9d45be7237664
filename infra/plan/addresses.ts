// Relay host slots from the pools of the relay config: every pool address becomes a secondary private IP of one
// slot's network interface, with its own Elastic IP whose reverse DNS (PTR) is the address's EHLO name. A relay
// host claims a free slot at boot, so hosts come and go while the public addresses (the reputation) stay.
import { isIPv4 } from "node:net";
import type { Config } from "../../shared/config/schema.ts";
import type { StackSettings } from "./settings.ts";

export interface PlannedAddress {
  /** Private IPv4 in the relay subnet, bound by the relay (pools[].address). */
  address: string;
  /** EHLO name, published as the Elastic IP's PTR (its A record must point back at the Elastic IP). */
  name: string;
  /** Pools that list this address. */
  pools: string[];
}

export interface HostSlot {
  index: number;
  /** This slot's addresses; the first is its network interface's primary private IP. */
  addresses: PlannedAddress[];
  /** The relay config's pools as this slot's host sees them: each pool's addresses that this slot carries. */
  pools: Record<
    string,
    { address: string; name: string; weight: number; warmup?: { since: string; schedule: string } }[]
  >;
}

export class AddressPlanError extends Error {
  constructor(readonly problems: string[]) {
    super(`the relay config does not fit the stack:\n  - ${problems.join("\n  - ")}`);
    this.name = "AddressPlanError";
  }
}

/** Assigns every pool address to one of `relayHosts.max` slots, round-robin within each pool. */
export function hostSlots(config: Readonly<Config>, stack: StackSettings): HostSlot[] {
  const count = stack.relayHosts.max;
  const subnet = parseCidr(stack.relaySubnetCidr);
  const problems: string[] = [];
  const used = new Set(Object.values(config.zones).map((z) => z.pool));
  const byAddress = new Map<string, PlannedAddress & { slot: number }>();
  const slots: HostSlot[] = Array.from({ length: count }, (_, index) => ({ index, addresses: [], pools: {} }));

  for (const [pool, entries] of Object.entries(config.pools)) {
    if (!used.has(pool)) continue; // a pool no zone sends from needs no addresses on AWS
    // Addresses already placed by an earlier pool keep their slot; the new ones fill the slots this pool lacks.
    const slotsOfPool = new Set<number>();
    let next = 0;
    for (const [i, entry] of entries.entries()) {
      const where = `pools.${pool}[${i}]`;
      if (!isIPv4(entry.address) || entry.address === "0.0.0.0") {
        problems.push(`${where}: ${entry.address} — on AWS every pool address is a private IPv4 of the relay subnet`);
        continue;
      }
      if (!usableIn(subnet, entry.address)) {
        problems.push(
          `${where}: ${entry.address} is not a usable address of relaySubnetCidr ${stack.relaySubnetCidr} ` +
            "(AWS reserves the first four and the last)",
        );
        continue;
      }
      if (!entry.name) {
        problems.push(`${where}: ${entry.address} needs a name (its EHLO name and the PTR of its Elastic IP)`);
        continue;
      }
      const known = byAddress.get(entry.address);
      if (known) {
        if (known.name !== entry.name) {
          problems.push(`${where}: ${entry.address} is named ${entry.name} here but ${known.name} in another pool`);
        }
        known.pools.push(pool);
        slotsOfPool.add(known.slot);
        continue;
      }
      while (slotsOfPool.has(next % count) && slotsOfPool.size < count) next++;
      const slot = next % count;
      next++;
      slotsOfPool.add(slot);
      const planned = { address: entry.address, name: entry.name, pools: [pool], slot };
      byAddress.set(entry.address, planned);
      slots[slot]!.addresses.push(planned);
    }
    if (slotsOfPool.size < count && entries.length > 0) {
      problems.push(
        `pools.${pool} has addresses for ${slotsOfPool.size} of ${count} relay hosts (relayHosts.max): every host ` +
          "sends every zone, so each pool needs at least one address per host",
      );
    }
  }
  if (problems.length) throw new AddressPlanError(problems);

  for (const slot of slots) {
    for (const [pool, entries] of Object.entries(config.pools)) {
      if (!used.has(pool)) continue;
      slot.pools[pool] = entries
        .filter((e) => byAddress.get(e.address)?.slot === slot.index)
        .map((e) => ({
          address: e.address,
          name: e.name!,
          weight: e.weight,
          ...(e.warmup ? { warmup: { since: e.warmup.since, schedule: e.warmup.schedule } } : {}),
        }));
    }
    for (const a of slot.addresses) delete (a as Partial<{ slot: number }>).slot;
  }
  return slots;
}

interface Cidr {
  base: number;
  size: number;
}

export function parseCidr(cidr: string): Cidr {
  const match = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr);
  if (!match || !isIPv4(match[1]!) || Number(match[2]) > 28)
    throw new Error(`not an IPv4 CIDR of /28 or larger: ${cidr}`);
  const bits = Number(match[2]);
  const size = 2 ** (32 - bits);
  const base = ipToInt(match[1]!) - (ipToInt(match[1]!) % size);
  return { base, size };
}

/** Inside the subnet and not one of the five addresses AWS reserves (network, router, DNS, future, broadcast). */
function usableIn(subnet: Cidr, address: string): boolean {
  const offset = ipToInt(address) - subnet.base;
  return offset >= 4 && offset < subnet.size - 1;
}

const ipToInt = (ip: string) => ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
