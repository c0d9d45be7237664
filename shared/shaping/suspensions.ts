// Suspensions: a local address resting from one destination after it blocked or throttled us. Kept as Coordinator
// flags with a TTL, so every host sees them, they end by themselves, and operators can list and lift them.
import type { Coordinator } from "../ports/coordinator.ts";

export interface Suspension {
  localAddress: string;
  /** The destination key: a recipient domain or, with MX roll-up, a provider such as google.com. */
  destination: string;
  reason: string;
  expiresAt: number;
}

const PREFIX = "suspend|";
const keyOf = (destination: string, localAddress: string) => `${PREFIX}${destination}|${localAddress}`;

export function suspend(
  c: Coordinator,
  s: { localAddress: string; destination: string; reason: string; ttlMs: number },
) {
  return c.setFlag(keyOf(s.destination, s.localAddress), s.reason.slice(0, 300), s.ttlMs);
}

export function liftSuspension(c: Coordinator, destination: string, localAddress: string) {
  return c.clearFlag(keyOf(destination, localAddress));
}

/** Current suspensions, of one destination or of all. */
export async function listSuspensions(c: Coordinator, destination?: string): Promise<Suspension[]> {
  const flags = await c.listFlags(destination ? `${PREFIX}${destination}|` : PREFIX);
  return flags.map((f) => {
    const rest = f.key.slice(PREFIX.length);
    const bar = rest.lastIndexOf("|");
    return {
      destination: rest.slice(0, bar),
      localAddress: rest.slice(bar + 1),
      reason: f.value,
      expiresAt: f.expiresAt,
    };
  });
}
