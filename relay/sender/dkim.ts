// DKIM setup for the sender: keys loaded from the config, the canonicalisations intake hashes, and the hash of a
// stored body for keys whose canonicalisation intake did not hash (keys added since, or from a plugin).
import { pipeline } from "node:stream/promises";
import type { Config } from "../../shared/config/schema.ts";
import { type BodyCanonicalization, DkimBodyHasher, type DkimBodyHashes } from "../../shared/mail/dkim/body-hash.ts";
import { loadDkimKeys } from "../../shared/mail/dkim/keys.ts";
import type { DkimKey, DkimSignOptions } from "../../shared/mail/dkim/sign.ts";
import type { BodyStore } from "../../shared/ports/body-store.ts";

export interface DkimSetup {
  keys: DkimKey[];
  options: Omit<DkimSignOptions, "now">;
  signTransportDomain: boolean;
}

/** Loads the configured keys (throws DkimKeyError on a bad one). */
export function createDkimSetup(config: Readonly<Config>): DkimSetup {
  const { dkim } = config;
  return {
    keys: loadDkimKeys(dkim),
    options: {
      headerFields: dkim.headers,
      overSign: dkim.overSign,
      ...(dkim.expiresIn ? { expiresIn: dkim.expiresIn } : {}),
    },
    signTransportDomain: dkim.signTransportDomain,
  };
}

/** The body canonicalisations intake hashes: the default one and every key's own. */
export function dkimCanonicalizations(config: Readonly<Config>): BodyCanonicalization[] {
  const all = [config.dkim.canonicalization, ...config.dkim.keys.map((k) => k.canonicalization)];
  return [...new Set(all.filter((c) => c !== undefined).map((c) => c.split("/")[1] as BodyCanonicalization))];
}

/** Reads a stored body once to hash it: for keys whose canonicalisation intake did not hash. */
export async function hashStoredBody(
  store: BodyStore,
  bodyId: string,
  canonicalizations: readonly BodyCanonicalization[],
): Promise<DkimBodyHashes> {
  const hasher = new DkimBodyHasher(canonicalizations, { crlfOnly: true }); // stored bodies passed intake's normaliser
  await pipeline(await store.get(bodyId), hasher, async (source: AsyncIterable<Buffer>) => {
    for await (const _ of source) {
      // only the hash matters
    }
  });
  return hasher.hashes ?? {};
}
