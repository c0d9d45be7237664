// DKIM at send time: the stored body streams out with DKIM-Signature fields on top, made from the body hashes that
// intake computed (a hash intake did not make — keys added since — is computed here with one extra read).
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Config } from "../../shared/config/schema.ts";
import type { LeasedDelivery } from "../../shared/domain/envelope.ts";
import { type BodyCanonicalization, DkimBodyHasher, type DkimBodyHashes } from "../../shared/mail/dkim/body-hash.ts";
import { keysForMessage, loadDkimKeys } from "../../shared/mail/dkim/keys.ts";
import { type DkimKey, type DkimSignOptions, dkimSignatures, rawFields } from "../../shared/mail/dkim/sign.ts";
import { HeaderPrepender } from "../../shared/mail/dkim/sign-stream.ts";
import type { BodyStore } from "../../shared/ports/body-store.ts";
import type { Clock } from "../../shared/ports/clock.ts";

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

export interface SignDeps {
  bodyStore: BodyStore;
  clock: Clock;
  dkim?: DkimSetup | undefined;
}

/**
 * The stored message as it is sent: signed with the keys of its author domain (and of `transportDomain`, the
 * EHLO name, with signTransportDomain), plus `extraKeys` (from plugins). Unsigned when no key applies.
 */
export async function outgoingBody(
  d: LeasedDelivery,
  deps: SignDeps,
  transportDomain?: string,
  extraKeys: readonly DkimKey[] = [],
): Promise<Readable> {
  const setup = deps.dkim;
  const keys = [...(setup?.keys ?? []), ...extraKeys];
  if (keys.length === 0) return deps.bodyStore.get(d.message.bodyId);
  const hashes: DkimBodyHashes = { ...d.message.dkimBodyHash };
  const missing = [...new Set(keys.map((k) => k.canonicalization.split("/")[1] as BodyCanonicalization))].filter(
    (c) => !hashes[c],
  );
  if (missing.length) Object.assign(hashes, await hashStoredBody(deps.bodyStore, d.message.bodyId, missing));
  const options: DkimSignOptions = {
    headerFields: setup?.options.headerFields ?? ["From", "To", "Subject", "Date", "Message-ID"],
    overSign: setup?.options.overSign ?? ["From"],
    now: new Date(deps.clock.now()),
    ...(setup?.options.expiresIn ? { expiresIn: setup.options.expiresIn } : {}),
  };
  const signTransport = setup?.signTransportDomain ? transportDomain : undefined;
  const signer = new HeaderPrepender((block) => {
    const from = rawFields(Buffer.from(block, "latin1").toString("utf8")).find((f) => f.key === "from");
    const fromValue = from?.raw.slice(from.raw.indexOf(":") + 1).replace(/\r\n/g, "");
    const chosen = [
      ...keysForMessage(setup?.keys ?? [], fromValue, signTransport),
      ...extraKeys.filter((k) => !(setup?.keys ?? []).includes(k)),
    ];
    return chosen.length ? dkimSignatures(block, hashes, chosen, options) : "";
  });
  const source = await deps.bodyStore.get(d.message.bodyId);
  pipeline(source, signer).catch(() => {}); // an error destroys `signer`, which its reader sees
  return signer;
}

/** Reads a stored body once to hash it: for keys whose canonicalisation intake did not hash. */
export async function hashStoredBody(
  store: BodyStore,
  bodyId: string,
  canonicalizations: readonly BodyCanonicalization[],
): Promise<DkimBodyHashes> {
  const hasher = new DkimBodyHasher(canonicalizations);
  await pipeline(await store.get(bodyId), hasher, async (source: AsyncIterable<Buffer>) => {
    for await (const _ of source) {
      // only the hash matters
    }
  });
  return hasher.hashes ?? {};
}
