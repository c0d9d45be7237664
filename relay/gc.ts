// Garbage collection: removes bodies once every delivery of their message is final, and bodies no message
// refers to (left by a crash between store and enqueue).
import type { Logger } from "pino";
import type { BodyStore } from "../shared/ports/body-store.ts";
import type { Clock } from "../shared/ports/clock.ts";
import type { Queue } from "../shared/ports/queue.ts";

/** A body without a message is an orphan only when older than any intake could still be working on. */
const ORPHAN_AGE_MS = 60 * 60 * 1000;

export async function collectGarbage(deps: { queue: Queue; bodyStore: BodyStore; clock: Clock; logger: Logger }) {
  let removed = 0;
  for (;;) {
    const finished = await deps.queue.finishedMessages(500);
    if (finished.length === 0) break;
    for (const m of finished) {
      await deps.bodyStore.delete(m.bodyId);
      await deps.queue.markBodyRemoved(m.id);
      removed++;
    }
  }
  let orphans = 0;
  for await (const bodyId of deps.bodyStore.list()) {
    const created = Number.parseInt(bodyId.slice(0, 9), 36);
    if (!Number.isFinite(created) || deps.clock.now() - created < ORPHAN_AGE_MS) continue;
    if (!(await deps.queue.hasBody(bodyId))) {
      await deps.bodyStore.delete(bodyId);
      orphans++;
    }
  }
  if (removed || orphans) deps.logger.info({ removed, orphans }, "garbage collected");
  return { removed, orphans };
}
