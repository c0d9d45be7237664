import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createFsBodyStore } from "../shared/adapters/body-store/fs.ts";
import { createLocalQueue } from "../shared/adapters/queue/local.ts";
import { newId } from "../shared/domain/ids.ts";
import type { BodyStore } from "../shared/ports/body-store.ts";
import { collectGarbage, releaseFinishedBodies } from "./gc.ts";

describe("garbage collection", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function setUp() {
    dir = mkdtempSync(join(tmpdir(), "zr-gc-"));
    const queue = createLocalQueue({ path: join(dir, "queue.sqlite") });
    const bodyStore = await createFsBodyStore({ dir: join(dir, "spool") });
    const deps = { queue, bodyStore, clock: { now: () => Date.now() }, logger: pino({ level: "silent" }) };
    const add = async (big = false) => {
      const id = newId();
      const body = big ? "x".repeat(300 * 1024) : "Subject: s\r\n\r\nhi\r\n"; // a file, or the body log
      await bodyStore.put(id, Readable.from([Buffer.from(body)]));
      const message = {
        id,
        bodyId: id,
        from: "a@sender.test",
        size: body.length,
        receivedAt: Date.now(),
        messageIdHeader: `<${id}@sender.test>`,
        source: { interface: "smtp" as const, name: "feeder" },
      };
      await queue.enqueue(message, [{ id: `${id}-d`, zone: "z", recipient: "r@a.test", domain: "a.test" }]);
      return id;
    };
    const finish = async (ids: string[]) => {
      const leased = await queue.lease("z", { owner: "o", limit: 1000, leaseMs: 60_000, now: Date.now() });
      for (const d of leased.filter((l) => ids.includes(l.messageId))) {
        const attempt = {
          deliveryId: d.id,
          at: Date.now(),
          durationMs: 1,
          outcome: "delivered" as const,
          response: "250",
        };
        await queue.complete(d.id, "o", { outcome: "delivered", attempt });
      }
    };
    return { queue, bodyStore, deps, add, finish };
  }
  const has = (store: BodyStore, id: string) =>
    store.get(id).then(
      () => true,
      () => false,
    );

  it("removes the bodies of finished messages only, small and large, and only once", async () => {
    const { queue, bodyStore, deps, add, finish } = await setUp();
    const done = [await add(), await add(true), await add()];
    const open = await add(true);
    await finish(done);
    expect(await releaseFinishedBodies(deps)).toBe(3);
    for (const id of done) expect(await has(bodyStore, id)).toBe(false);
    expect(await has(bodyStore, open)).toBe(true);
    expect(await queue.finishedMessages(10)).toEqual([]);
    expect(await releaseFinishedBodies(deps)).toBe(0);
    await queue.close();
    await bodyStore.close();
  });

  it("removes more finished bodies than one batch holds", async () => {
    const { queue, bodyStore, deps, add, finish } = await setUp();
    const ids: string[] = [];
    for (let i = 0; i < 150; i++) ids.push(await add());
    await finish(ids);
    expect(await releaseFinishedBodies(deps)).toBe(150);
    for (const id of ids) expect(await has(bodyStore, id)).toBe(false);
    await queue.close();
    await bodyStore.close();
  });

  it("sweeps bodies no message refers to once they are an hour old, never a fresh one", async () => {
    const { queue, bodyStore, deps } = await setUp();
    const old = newId(Date.now() - 2 * 3600_000);
    const fresh = newId();
    await bodyStore.put(old, Readable.from([Buffer.from("left by a crash")]));
    await bodyStore.put(fresh, Readable.from([Buffer.from("being enqueued right now")]));
    expect(await collectGarbage(deps)).toEqual({ removed: 0, orphans: 1 });
    expect(await has(bodyStore, old)).toBe(false);
    expect(await has(bodyStore, fresh)).toBe(true);
    await queue.close();
    await bodyStore.close();
  });
});
