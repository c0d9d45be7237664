// The QueueOps contract on the MongoDB queue, and what only a cluster can get wrong: operators racing senders on other
// hosts, deliveries stored before arrival keys existed.
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMongoQueue, type MongoQueue } from "../../shared/adapters/queue/mongo.ts";
import {
  type DeliveryDoc,
  type MessageDoc,
  mongoQueueCollections,
  toMessageDoc,
} from "../../shared/adapters/queue/mongo-schema.ts";
import type { MessageRecord, NewDelivery } from "../../shared/domain/envelope.ts";
import { freshDatabase, type TestDatabase } from "../support/mongo.ts";
import { describeQueueOpsContract } from "./queue-ops-contract.ts";

describeQueueOpsContract("mongo (MongoDB wire protocol)", async () => {
  const t = await freshDatabase("zr_qops");
  const queue = await createMongoQueue({ db: t.db });
  return {
    queue,
    ops: queue.ops,
    cleanup: async () => {
      await queue.close();
      await t.cleanup();
    },
  };
});

const MINUTE = 60_000;
let n = 0;
const uid = (p: string) => `${p}${Date.now().toString(36)}${(n++).toString(36)}${randomBytes(3).toString("hex")}`;

function message(): MessageRecord {
  const id = uid("m");
  return {
    id,
    bodyId: `b${id}`,
    from: "sender@example.test",
    size: 10,
    receivedAt: Date.now(),
    messageIdHeader: `<${id}@example.test>`,
    source: { interface: "api", name: "api" },
  };
}
const recipients = (zone: string, count: number): NewDelivery[] =>
  Array.from({ length: count }, (_, i) => ({
    id: uid("d"),
    zone,
    recipient: `r${i}@one.test`,
    domain: "one.test",
    nextAttemptAt: Date.now(),
  }));
const attempt = (deliveryId: string, outcome: "delivered" | "deferred") => ({
  deliveryId,
  at: Date.now(),
  durationMs: 5,
  outcome,
  response: outcome === "delivered" ? "250 ok" : "451 later",
});

describe("MongoDB queue operations across hosts", () => {
  let t: TestDatabase;
  let q: MongoQueue;
  let peer: MongoQueue;
  let zone: string;
  const names = mongoQueueCollections("zone-queue");
  beforeEach(async () => {
    t = await freshDatabase("zr_qops_x");
    q = await createMongoQueue({ db: t.db });
    peer = await createMongoQueue({ db: await t.connectPeer() });
    zone = uid("zone");
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it("never leases a held delivery while another host leases during the hold", async () => {
    const all = recipients(zone, 60);
    await q.enqueue(message(), all);
    const leasedBy: string[] = [];
    let holding = true;
    const leasing = (async () => {
      while (holding) {
        const got = await peer.lease(zone, { owner: "h2", limit: 2, leaseMs: MINUTE, now: Date.now() });
        leasedBy.push(...got.map((d) => d.id));
      }
    })();
    // the hold starts while the other host is leasing
    while (leasedBy.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const held = await q.ops.hold({ zone }, Date.now());
    holding = false;
    await leasing;
    expect(leasedBy.length).toBeGreaterThan(0);
    // every open delivery is held, leased or not, and none is leased any more
    expect(held).toBe(all.length);
    expect(await peer.lease(zone, { owner: "h3", limit: 100, leaseMs: MINUTE, now: Date.now() + 2 * MINUTE })).toEqual(
      [],
    );
    // attempts in flight finish; deferred ones stay held (no lease, not due for the sender)
    for (const id of leasedBy) {
      expect(
        await peer.complete(id, "h2", { outcome: "deferred", attempt: attempt(id, "deferred"), nextAttemptAt: 0 }),
      ).toBe(true);
    }
    expect(await q.nextDueAt(zone)).toBeUndefined();
    expect((await q.ops.counts()).filter((c) => c.zone === zone)).toEqual([{ zone, state: "held", count: 60 }]);
    expect(await q.ops.release({ zone }, Date.now())).toBe(60);
    const back = await peer.lease(zone, { owner: "h3", limit: 100, leaseMs: MINUTE, now: Date.now() });
    expect(back).toHaveLength(60);
  });

  it("finishes each delivery once when an operator removes while the sender completes", async () => {
    const m = message();
    await q.enqueue(m, recipients(zone, 30));
    const leased = await peer.lease(zone, { owner: "h2", limit: 30, leaseMs: MINUTE, now: Date.now() });
    expect(leased).toHaveLength(30);
    const completing = leased.map((d) =>
      peer.complete(d.id, "h2", { outcome: "delivered", attempt: attempt(d.id, "delivered") }),
    );
    // the removal starts once the first completion is through, while the others are under way
    await Promise.race(completing);
    const { count, bounced } = await q.ops.remove(
      { zone },
      { mode: "bounce", reason: "5.0.0 deleted by operator", now: Date.now() },
    );
    const completed = await Promise.all(completing);
    const status = (await q.getMessage(m.id))!.deliveries;
    const byId = new Map(status.map((d) => [d.id, d]));
    leased.forEach((d, i) => {
      const s = byId.get(d.id)!;
      // the completion won (delivered, one attempt) or the removal did (bounced, the operator's attempt)
      expect(s.state).toBe(completed[i] ? "delivered" : "bounced");
      expect(s.history).toHaveLength(1);
    });
    expect(count).toBe(completed.filter((ok) => !ok).length);
    expect(bounced.map((d) => d.id).sort()).toEqual(
      status
        .filter((d) => d.state === "bounced")
        .map((d) => d.id)
        .sort(),
    );
  });

  it("lists deliveries stored before arrival keys existed first, and pages on through newer ones", async () => {
    const old = message();
    await t.db.collection<MessageDoc>(names.messages).insertOne(toMessageDoc(old, 2));
    const legacy = ["d-old-b", "d-old-a"].map(
      (id, seq): DeliveryDoc => ({
        _id: id,
        messageId: old.id,
        seq,
        zone,
        domain: "one.test",
        recipient: `${id}@one.test`,
        state: "queued",
        attempts: 0,
        nextAttemptAt: Date.now() + MINUTE,
        dueAt: Date.now() + MINUTE,
        leaseExpiresAt: 0,
        updatedAt: Date.now(),
        history: [],
        gen: 0,
      }),
    );
    await t.db.collection<DeliveryDoc>(names.deliveries).insertMany(legacy);
    const fresh = recipients(zone, 3);
    await q.enqueue(message(), fresh);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await peer.ops.list({ zone }, { limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((d) => d.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(["d-old-a", "d-old-b", ...fresh.map((d) => d.id)]);
    // they take part in operations like any other
    expect(await q.ops.hold({ messageId: old.id }, Date.now())).toBe(2);
  });

  it("refuses a cursor it did not make", async () => {
    await expect(q.ops.list({}, { limit: 10, cursor: "not-a-cursor" })).rejects.toMatchObject({
      kind: "invalid-request",
    });
    await expect(q.ops.listAudit({ limit: 10, cursor: "bm9wZQ" })).rejects.toMatchObject({ kind: "invalid-request" });
  });

  it("keeps the audit trail in <collection>-audit", async () => {
    const entry = {
      id: uid("a"),
      at: Date.now(),
      actor: "admin:root",
      action: "queue.hold",
      target: { zone },
      affected: 0,
    };
    await q.ops.appendAudit(entry);
    expect(await t.db.collection(names.audit).findOne({ _id: entry.id as never })).toMatchObject({
      actor: "admin:root",
      target: { zone },
    });
    expect((await peer.ops.listAudit({ limit: 10 })).items).toEqual([entry]);
  });
});
