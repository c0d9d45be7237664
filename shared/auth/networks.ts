// CIDR allow-lists for intake (which clients may relay without AUTH) and loopback checks.
import { BlockList, isIP } from "node:net";

const KNOWN_MAX = 4096;

export function createNetworkList(cidrs: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split("/");
    const family = isIP(net ?? "") === 6 ? "ipv6" : "ipv4";
    if (!net || !isIP(net)) throw new Error(`"${cidr}" is not an IP network (expected e.g. 10.0.0.0/8)`);
    list.addSubnet(net, bits === undefined ? (family === "ipv6" ? 128 : 32) : Number(bits), family);
  }
  // Asked on every MAIL and RCPT of a session: BlockList#check builds a SocketAddress each time, a Map lookup
  // does not. The list never changes, so answers are kept (for a bounded number of addresses).
  const known = new Map<string, boolean>();
  return (address: string) => {
    const cached = known.get(address);
    if (cached !== undefined) return cached;
    const plain = unmapIPv4(address);
    const family = isIP(plain) === 6 ? "ipv6" : "ipv4";
    const inList = isIP(plain) !== 0 && list.check(plain, family);
    if (known.size >= KNOWN_MAX) known.clear();
    known.set(address, inList);
    return inList;
  };
}

/** "::ffff:127.0.0.1" → "127.0.0.1" (dual-stack sockets report IPv4 clients this way). */
export function unmapIPv4(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

const loopback = createNetworkList(["127.0.0.0/8", "::1/128"]);
export function isLoopback(address: string): boolean {
  return address === "localhost" || loopback(address);
}
