import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLocalQueue } from "../../shared/adapters/queue/local.ts";
import { describeQueueContract } from "./queue-contract.ts";

describeQueueContract("local (SQLite)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "zr-queue-"));
  const queue = createLocalQueue({ path: join(dir, "queue.sqlite") });
  return {
    queue,
    cleanup: async () => {
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

// Behaviour of the embedded adapter only: one process owns the file.
describe("local queue ownership", () => {
  const message = {
    id: "m1",
    bodyId: "b1",
    from: "a@example.test",
    size: 1,
    receivedAt: 1_000,
    messageIdHeader: "<m1@example.test>",
    source: { interface: "smtp" as const, name: "feeder" },
  };

  it("refuses a second opener of the same file while the first holds it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-queue-"));
    const first = createLocalQueue({ path: join(dir, "q.sqlite") });
    expect(() => createLocalQueue({ path: join(dir, "q.sqlite") })).toThrow(/locked|busy/i);
    await first.close();
    const again = createLocalQueue({ path: join(dir, "q.sqlite") });
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("makes work leased by a dead process due again when the queue is reopened", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-queue-"));
    const path = join(dir, "q.sqlite");
    const clock = { now: () => 5_000 };
    const before = createLocalQueue({ path, clock });
    await before.enqueue(message, [{ id: "d1", zone: "default", recipient: "x@example.test", domain: "example.test" }]);
    const leased = await before.lease("default", { owner: "dead", limit: 10, leaseMs: 3_600_000, now: 5_000 });
    expect(leased).toHaveLength(1);
    await before.close(); // as after kill -9: the lease is still recorded in the file
    const after = createLocalQueue({ path, clock });
    const again = await after.lease("default", { owner: "alive", limit: 10, leaseMs: 60_000, now: 5_000 });
    expect(again.map((d) => d.id)).toEqual(["d1"]);
    await after.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
