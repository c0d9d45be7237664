// Garbage collection: removes bodies once every delivery of their message is final, and bodies no message
// refers to (left by a crash between store and enqueue).
import type { Logger } from "pino";
import type { BodyStore } from "../shared/ports/body-store.ts";
import type { Clock } from "../shared/ports/clock.ts";
import type { Queue } from "../shared/ports/queue.ts";

/** A body without a message is an orphan only when older than any intake could still be working on. */
const ORPHAN_AGE_MS = 60 * 60 * 1000;
/** Removals run this many at a time: stores that group writes (the body log, the local queue) commit them once. */
const PARALLEL = 64;

interface GcDeps {
  queue: Queue;
  bodyStore: BodyStore;
  clock: Clock;
  logger: Logger;
}

/**
 * Removes the bodies of finished messages. Run often (relay/main.ts: every second), so a body goes soon after its
 * last delivery, as Postfix removes a queue file, instead of piling up between sweeps.
 */
export async function releaseFinishedBodies(deps: GcDeps): Promise<number> {
  let removed = 0;
  for (;;) {
    const finished = await deps.queue.finishedMessages(500);
    if (finished.length === 0) return removed;
    for (let i = 0; i < finished.length; i += PARALLEL) {
      const batch = finished.slice(i, i + PARALLEL);
      // The body first: a stop in between leaves the message listed, and the next run removes it again.
      await Promise.all(batch.map((m) => deps.bodyStore.delete(m.bodyId)));
      await Promise.all(batch.map((m) => deps.queue.markBodyRemoved(m.id)));
      removed += batch.length;
    }
  }
}

/** Removes bodies no message refers to; lists the whole store, so it runs rarely. */
export async function sweepOrphans(deps: GcDeps): Promise<number> {
  let orphans = 0;
  for await (const bodyId of deps.bodyStore.list()) {
    const created = Number.parseInt(bodyId.slice(0, 9), 36);
    if (!Number.isFinite(created) || deps.clock.now() - created < ORPHAN_AGE_MS) continue;
    if (!(await deps.queue.hasBody(bodyId))) {
      await deps.bodyStore.delete(bodyId);
      orphans++;
    }
  }
  return orphans;
}

export async function collectGarbage(deps: GcDeps) {
  const removed = await releaseFinishedBodies(deps);
  const orphans = await sweepOrphans(deps);
  if (removed || orphans) deps.logger.info({ removed, orphans }, "garbage collected");
  return { removed, orphans };
}
