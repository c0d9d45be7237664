// Idempotency keys of the sqs queue: one status object per (scope, key), created with If-None-Match where honoured.
import type { IdempotencyClaim } from "../../ports/queue.ts";
import { ORPHAN_AFTER_MS } from "./sqs-carriers.ts";
import { ConditionFailed, type IdempotencyObject, type StatusStore } from "./sqs-status-store.ts";

/**
 * Claims the key for `messageId`, or returns the id of the unexpired message that already holds it. A claim whose
 * enqueue never committed (a crash in between) stops counting after a while, so a key is not blocked until expiry
 * by a message that does not exist.
 */
export async function claimIdempotency(
  store: StatusStore,
  claim: IdempotencyClaim,
  messageId: string,
  now: number,
): Promise<string | undefined> {
  const key = store.keys.idempotency(claim.scope, claim.key);
  const holder = async (found: IdempotencyObject | undefined) =>
    found &&
    found.expiresAt > now &&
    (now - found.createdAt < ORPHAN_AFTER_MS || (await store.messageObject(found.messageId)) !== undefined)
      ? found.messageId
      : undefined;
  const existing = await store.read<IdempotencyObject>(key);
  const current = await holder(existing?.value);
  if (current) return current;
  const mine: IdempotencyObject = { ...claim, messageId, createdAt: now };
  try {
    // Create-if-absent, or replace exactly the expired claim we read: of two racing claimers one wins.
    await store.write(key, mine, existing ? { ifMatch: existing.etag } : { ifNoneMatch: "*" });
  } catch (err) {
    if (!(err instanceof ConditionFailed)) throw err;
    const winner = await holder((await store.read<IdempotencyObject>(key))?.value);
    if (winner) return winner;
    throw new Error("idempotency key is being claimed concurrently; try again");
  }
  return undefined;
}

/** Gives the key back after a failed enqueue, unless another message holds it by now. */
export async function releaseIdempotency(store: StatusStore, claim: IdempotencyClaim, messageId: string) {
  const key = store.keys.idempotency(claim.scope, claim.key);
  const found = await store.read<IdempotencyObject>(key);
  if (found?.value.messageId === messageId) await store.remove(key);
}
