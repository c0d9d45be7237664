import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLocalQueue } from "../../shared/adapters/queue/local.ts";
import { createThreadedLocalQueue, QUEUE_WORKER } from "../../shared/adapters/queue/local-thread.ts";
import { localQueues } from "../support/local-queues.ts";
import { describeQueueContract } from "./queue-contract.ts";

for (const [name, make] of Object.entries(localQueues)) describeQueueContract(name, make);

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

// The embedded mode's handoff: fresh deliveries go to the zone's sender in memory, leased to it in the file.
describe("local queue handoff", () => {
  let t = 10_000;
  const clock = { now: () => t };
  const message = (id: string) => ({
    id,
    bodyId: id,
    from: "a@example.test",
    size: 1,
    receivedAt: t,
    messageIdHeader: `<${id}@example.test>`,
    source: { interface: "smtp" as const, name: "feeder" },
  });
  const to = (id: string, zone = "z", nextAttemptAt?: number) => ({
    id,
    zone,
    recipient: `${id}@example.test`,
    domain: "example.test",
    ...(nextAttemptAt === undefined ? {} : { nextAttemptAt }),
  });
  const delivered = (id: string) => ({
    outcome: "delivered" as const,
    attempt: { deliveryId: id, at: t, durationMs: 1, outcome: "delivered" as const, response: "250 ok" },
  });
  const open = () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-queue-"));
    const path = join(dir, "q.sqlite");
    return {
      path,
      queue: createLocalQueue({ path, clock }),
      done: () => rmSync(dir, { recursive: true, force: true }),
    };
  };
  const lease = (q: ReturnType<typeof createLocalQueue>, owner: string, zone = "z") =>
    q.lease(zone, { owner, limit: 10, leaseMs: 60_000, now: t });

  it("hands due deliveries to the offering owner only, leased to it in storage, and completes them", async () => {
    const { queue, done } = open();
    queue.handOff!("z", { owner: "me", leaseMs: 60_000, max: 10 });
    await queue.enqueue(message("m1"), [to("d1"), to("d2", "other")]);
    expect((await lease(queue, "someone-else")).map((d) => d.id)).toEqual([]);
    const mine = await lease(queue, "me");
    expect(mine.map((d) => [d.id, d.leaseOwner, d.message.id])).toEqual([["d1", "me", "m1"]]);
    expect(await lease(queue, "me")).toEqual([]); // taken once
    expect((await lease(queue, "me", "other")).map((d) => d.id)).toEqual(["d2"]); // no offer there: storage
    expect(await queue.complete("d1", "me", delivered("d1"))).toBe(true);
    expect((await queue.getMessage("m1"))!.deliveries.find((d) => d.id === "d1")!.state).toBe("delivered");
    await queue.close();
    done();
  });

  it("keeps deliveries that are not due yet, and those past `max`, in storage", async () => {
    const { queue, done } = open();
    queue.handOff!("z", { owner: "me", leaseMs: 60_000, max: 1 });
    await queue.enqueue(message("m1"), [to("d1"), to("d2"), to("later", "z", t + 5_000)]);
    // d1 handed; d2 over max went to storage unleased, so any owner can lease it (storage first).
    expect((await lease(queue, "me")).map((d) => d.id)).toEqual(["d2", "d1"]);
    t += 5_000;
    expect((await lease(queue, "me")).map((d) => d.id)).toEqual(["later"]);
    await queue.close();
    done();
  });

  it("gives back what was not taken when the offer is withdrawn, on release and on reopen", async () => {
    const { path, queue, done } = open();
    const withdraw = queue.handOff!("z", { owner: "me", leaseMs: 60_000, max: 10 });
    await queue.enqueue(message("m1"), [to("d1")]);
    withdraw();
    expect((await lease(queue, "next")).map((d) => d.id)).toEqual(["d1"]);
    queue.handOff!("z", { owner: "next", leaseMs: 60_000, max: 10 });
    await queue.enqueue(message("m2"), [to("d2")]);
    expect(await queue.release("next")).toBe(2); // d1 (leased) and d2 (handed)
    for (const d of await lease(queue, "me")) await queue.complete(d.id, "me", delivered(d.id));
    queue.handOff!("z", { owner: "dies", leaseMs: 60_000, max: 10 });
    await queue.enqueue(message("m3"), [to("d3")]);
    await queue.close(); // as after kill -9 with d3 handed
    const after = createLocalQueue({ path, clock });
    expect((await lease(after, "alive")).map((d) => d.id)).toEqual(["d3"]);
    await after.close();
    done();
  });

  it("lets an expired handed lease come back from storage exactly once", async () => {
    const { queue, done } = open();
    queue.handOff!("z", { owner: "me", leaseMs: 1_000, max: 10 });
    await queue.enqueue(message("m1"), [to("d1")]);
    t += 1_000;
    expect((await lease(queue, "me")).map((d) => d.id)).toEqual(["d1"]); // from storage, not twice
    expect(await lease(queue, "me")).toEqual([]);
    await queue.close();
    done();
  });

  it("renews a handed lease that is running short when it is taken", async () => {
    const { queue, done } = open();
    queue.handOff!("z", { owner: "me", leaseMs: 60_000, max: 10 });
    await queue.enqueue(message("m1"), [to("d1")]);
    t += 50_000;
    const [d] = await lease(queue, "me");
    expect(d!.leaseExpiresAt).toBe(t + 60_000);
    t += 20_000; // past the original lease: still ours
    expect(await lease(queue, "thief")).toEqual([]);
    expect(await queue.complete("d1", "me", delivered("d1"))).toBe(true);
    await queue.close();
    done();
  });

  it("drops handed deliveries that are cancelled, and recalls them before an operator's change", async () => {
    const { queue, done } = open();
    queue.handOff!("z", { owner: "me", leaseMs: 60_000, max: 10 });
    await queue.enqueue(message("m1"), [to("d1")]);
    await queue.enqueue(message("m2"), [to("d2")]);
    expect(await queue.cancel("m1", t)).toBe(1);
    expect(await queue.ops.hold({ messageId: "m2" }, t)).toBe(1);
    expect(await lease(queue, "me")).toEqual([]); // d1 cancelled, d2 held: neither goes out
    expect(await queue.ops.release({ messageId: "m2" }, t)).toBe(1);
    expect((await lease(queue, "me")).map((d) => d.id)).toEqual(["d2"]);
    await queue.close();
    done();
  });
});

// The same queue on a worker thread (what the relay opens): what crosses between the threads.
describe("local queue on a worker thread", () => {
  const message = (id: string) => ({
    id,
    bodyId: id,
    from: "a@example.test",
    size: 1,
    receivedAt: Date.now(),
    messageIdHeader: `<${id}@example.test>`,
    source: { interface: "smtp" as const, name: "feeder" },
  });
  const to = (id: string) => ({ id, zone: "z", recipient: `${id}@example.test`, domain: "example.test" });
  const fresh = () => join(mkdtempSync(join(tmpdir(), "zr-queue-")), "q.sqlite");

  it("refuses a second opener, on a thread or not, and says why", async () => {
    const path = fresh();
    const first = await createThreadedLocalQueue({ path });
    await expect(createThreadedLocalQueue({ path })).rejects.toThrow(/locked by another process/);
    expect(() => createLocalQueue({ path })).toThrow(/locked|busy/i);
    await first.close();
    await expect(first.nextDueAt("z")).rejects.toThrow(/closed/);
    await (await createThreadedLocalQueue({ path })).close();
    rmSync(join(path, ".."), { recursive: true, force: true });
  });

  it("hands fresh deliveries to the offering sender, and gives them back when the offer is withdrawn", async () => {
    const path = fresh();
    const queue = await createThreadedLocalQueue({ path });
    const withdraw = queue.handOff!("z", { owner: "me", leaseMs: 60_000, max: 10 });
    await queue.enqueue(message("m1"), [to("d1")]);
    await queue.enqueue(message("m2"), [to("d2")]);
    const lease = (owner: string) => queue.lease("z", { owner, limit: 1, leaseMs: 60_000, now: Date.now() });
    expect((await lease("other")).map((d) => d.id)).toEqual([]); // handed to "me", leased to it in the file
    expect((await lease("me")).map((d) => d.id)).toEqual(["d1"]);
    withdraw();
    expect((await lease("other")).map((d) => d.id)).toEqual(["d2"]); // released when the offer ended
    await queue.close();
    rmSync(join(path, ".."), { recursive: true, force: true });
  });

  it("runs the same queue when its worker starts through tsx (what it falls back to when bundling fails)", async () => {
    const path = fresh();
    const queue = await createThreadedLocalQueue({ path, workerCode: "tsx" });
    await queue.enqueue(message("m1"), [to("d1")]);
    const leased = await queue.lease("z", { owner: "me", limit: 5, leaseMs: 60_000, now: Date.now() });
    expect(leased.map((d) => d.id)).toEqual(["d1"]);
    await queue.close();
    // The bundled worker opens the file the tsx one wrote.
    const again = await createThreadedLocalQueue({ path });
    expect((await again.getMessage("m1"))?.deliveries.map((d) => d.id)).toEqual(["d1"]);
    await again.close();
    rmSync(join(path, ".."), { recursive: true, force: true });
  });

  it("fails every call and reports itself unhealthy once its worker is gone (intake answers 4xx, loses nothing)", async () => {
    const path = fresh();
    const queue = await createThreadedLocalQueue({ path });
    await queue.enqueue(message("m1"), [to("d1")]);
    const worker = (queue as unknown as { [QUEUE_WORKER]: import("node:worker_threads").Worker })[QUEUE_WORKER];
    const pending = queue.nextDueAt("z");
    await worker.terminate();
    await expect(pending).rejects.toThrow(/worker exited/);
    await expect(queue.enqueue(message("m2"), [to("d2")])).rejects.toThrow(/worker exited/);
    expect(queue.unhealthyReason()).toMatch(/local queue: worker exited/);
    await queue.close();
    // What was acknowledged is in the file: a new queue on it has the first message and not the refused one.
    const again = await createThreadedLocalQueue({ path });
    expect((await again.getMessage("m1"))?.deliveries.map((d) => d.id)).toEqual(["d1"]);
    expect(await again.getMessage("m2")).toBeUndefined();
    await again.close();
    rmSync(join(path, ".."), { recursive: true, force: true });
  });

  it("keeps an error's code across the threads (intake tells storage failures by it)", async () => {
    const path = fresh();
    const queue = await createThreadedLocalQueue({ path });
    await queue.enqueue(message("m1"), [to("d1")]);
    await expect(queue.enqueue(message("m1"), [to("d1")])).rejects.toMatchObject({
      code: expect.stringMatching(/^SQLITE_CONSTRAINT/),
    });
    expect(queue.unhealthyReason()).toBeUndefined();
    await queue.close();
    rmSync(join(path, ".."), { recursive: true, force: true });
  });
});
