import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { createLocalQueue } from "../../shared/adapters/queue/local.ts";
import { LOCAL_QUEUE_SCHEMA } from "../../shared/adapters/queue/local-schema.ts";
import { localQueues } from "../support/local-queues.ts";
import { describeQueueOpsContract } from "./queue-ops-contract.ts";

for (const [name, make] of Object.entries(localQueues)) describeQueueOpsContract(name, make);

describe("local queue migrations", () => {
  it("opens a file written before queue operations existed, keeping its deliveries leasable", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-queue-ops-"));
    const path = join(dir, "old.sqlite");
    // A queue file as the previous version wrote it: the base schema, user_version 0, one delivery due.
    const old = new Database(path);
    old.exec(LOCAL_QUEUE_SCHEMA);
    old
      .prepare(
        `INSERT INTO messages (id, body_id, sender, size, received_at, message_id_header, source, open_deliveries)
         VALUES ('m1', 'b1', 'a@example.test', 1, 1000, '<m1@x>', '{"interface":"api","name":"api"}', 1)`,
      )
      .run();
    old
      .prepare(
        `INSERT INTO deliveries (id, message_id, zone, recipient, domain, state, next_attempt_at, updated_at)
         VALUES ('d1', 'm1', 'default', 'x@one.test', 'one.test', 'queued', 1000, 1000)`,
      )
      .run();
    old.close();

    const queue = createLocalQueue({ path });
    try {
      const listed = await queue.ops.list({}, { limit: 10 });
      expect(listed.items.map((d) => [d.id, d.opsState])).toEqual([["d1", "queued"]]);
      await queue.ops.hold({ ids: ["d1"] }, 2000);
      expect(await queue.lease("default", { owner: "o", limit: 10, leaseMs: 1000, now: 5000 })).toEqual([]);
      await queue.ops.release({ ids: ["d1"] }, 3000);
      const leased = await queue.lease("default", { owner: "o", limit: 10, leaseMs: 1000, now: 5000 });
      expect(leased.map((d) => d.id)).toEqual(["d1"]);
    } finally {
      await queue.close();
    }
    // Reopening runs no migration twice.
    const again = createLocalQueue({ path });
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
