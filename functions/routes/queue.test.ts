import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bearer, createTestApi, KEYS, postJson, type TestApi } from "../test-fixture.ts";

describe("queue operations API", () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await createTestApi();
  });
  afterEach(() => api.close());

  const call = (method: string, path: string, body?: unknown, key = KEYS.full) =>
    api.app.request(path, {
      method,
      headers: { ...bearer(key), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  /** Submits one message to each recipient and defers every delivery with `reply`, due in an hour. */
  async function deferred(recipients: string[], reply = "451 4.7.1 greylisted") {
    const ids: string[] = [];
    for (const to of recipients) {
      const res = await postJson(api, { from: "app@sender.test", to, subject: "Hi", text: "x" });
      ids.push((await res.json()).id);
    }
    const now = api.clock.now();
    for (const d of await api.queue.lease("default", { owner: "t", limit: 100, leaseMs: 60_000, now })) {
      await api.queue.complete(d.id, "t", {
        outcome: "deferred",
        attempt: { deliveryId: d.id, at: now, durationMs: 5, outcome: "deferred", response: reply },
        nextAttemptAt: now + 3_600_000,
      });
    }
    return ids;
  }

  it("lists deferred deliveries with their last reply, filtered, paged", async () => {
    await deferred(["a@one.test", "b@two.test", "c@one.test"]);
    const res = await call("GET", "/v1/queue/deliveries?state=deferred&domain=one.test&limit=1");
    expect(res.status).toBe(200);
    const page = await res.json();
    expect(page.deliveries).toHaveLength(1);
    expect(page.deliveries[0]).toMatchObject({
      recipient: "a@one.test",
      state: "deferred",
      zone: "default",
      attempts: 1,
      lastResponse: "451 4.7.1 greylisted",
      nextAttemptAt: "2026-11-25T07:00:00.000Z",
    });
    const next = await (
      await call("GET", `/v1/queue/deliveries?state=deferred&domain=one.test&cursor=${page.nextCursor}`)
    ).json();
    expect(next.deliveries.map((d: { recipient: string }) => d.recipient)).toEqual(["c@one.test"]);
    expect(next.nextCursor).toBeUndefined();
    const byReply = await (await call("GET", "/v1/queue/deliveries?reply=greylisted&olderThan=1s")).json();
    expect(byReply.deliveries).toHaveLength(0); // the clock has not moved: nothing is older than 1 s
  });

  it("counts open deliveries per zone, every configured zone included", async () => {
    await deferred(["a@one.test"]);
    const body = await (await call("GET", "/v1/queue/counts")).json();
    expect(body.zones).toEqual(
      expect.arrayContaining([
        { zone: "default", queued: 0, deferred: 1, held: 0 },
        { zone: "a", queued: 0, deferred: 0, held: 0 },
      ]),
    );
  });

  it("retries, holds, releases and deletes by message id, each audited with who and what", async () => {
    const [id] = await deferred(["a@one.test"]);
    expect(await (await call("POST", "/v1/queue/hold", { ids: [id] })).json()).toEqual({ affected: 1 });
    expect((await api.ops.list({ state: ["held"] }, { limit: 10 })).items).toHaveLength(1);
    expect(await (await call("POST", "/v1/queue/release", { ids: [id] })).json()).toEqual({ affected: 1 });
    expect(await (await call("POST", "/v1/queue/hold", { ids: [id] })).json()).toEqual({ affected: 1 });
    expect(await (await call("POST", "/v1/queue/release", { all: true })).json()).toEqual({ affected: 1 });
    // released = due now: a retry changes nothing more
    expect(await (await call("POST", "/v1/queue/retry", { ids: [id] })).json()).toEqual({ affected: 0 });
    const del = await call("POST", "/v1/queue/delete", { ids: [id], mode: "drop", reason: "spam run" });
    expect(await del.json()).toEqual({ affected: 1 });
    expect((await api.queue.getMessage(id!))?.deliveries[0]?.state).toBe("cancelled");

    const audit = await (await call("GET", "/v1/audit")).json();
    expect(audit.entries.map((e: { action: string }) => e.action)).toEqual([
      "queue.delete",
      "queue.retry",
      "queue.release",
      "queue.hold",
      "queue.release",
      "queue.hold",
    ]);
    expect(audit.entries[0]).toMatchObject({
      actor: "key:full",
      target: { ids: [id], mode: "drop" },
      affected: 1,
      detail: "spam run",
      at: "2026-11-25T06:00:00.000Z",
    });
  });

  it("retries deferred deliveries now and flushes a domain", async () => {
    await deferred(["a@one.test", "b@two.test", "c@two.test"]);
    expect(await (await call("POST", "/v1/queue/retry", { domain: "one.test" })).json()).toEqual({ affected: 1 });
    expect(await (await call("POST", "/v1/queue/flush", { domain: "TWO.test" })).json()).toEqual({ affected: 2 });
    const due = await api.queue.lease("default", { owner: "u", limit: 10, leaseMs: 1000, now: api.clock.now() });
    expect(due).toHaveLength(3);
  });

  it("bounces through the DSN hook when deleting with mode bounce", async () => {
    const [id] = await deferred(["a@one.test"]);
    const res = await call("POST", "/v1/queue/delete", { messageId: id, mode: "bounce" });
    expect(await res.json()).toEqual({ affected: 1 });
    const status = await api.queue.getMessage(id!);
    expect(status?.deliveries[0]?.state).toBe("bounced");
    expect(status?.deliveries[0]?.history.at(-1)?.response).toBe("5.0.0 deleted by operator");
  });

  it("refuses a mutation without a filter, bad states and durations, and keys limited to zones", async () => {
    const empty = await call("POST", "/v1/queue/retry", {});
    expect(empty.status).toBe(400);
    expect((await call("POST", "/v1/queue/retry", { state: ["lost"] })).status).toBe(400);
    const age = await call("GET", "/v1/queue/deliveries?olderThan=soon");
    expect(age.status).toBe(400);
    expect(await age.json()).toMatchObject({ field: "olderThan" });
    expect((await call("POST", "/v1/queue/delete", { all: true })).status).toBe(400); // mode is required
    const scoped = await call("GET", "/v1/queue/deliveries", undefined, KEYS.scoped);
    expect(scoped.status).toBe(403);
    expect((await call("GET", "/v1/audit", undefined, KEYS.scoped)).status).toBe(403);
    expect((await call("GET", "/v1/config", undefined, KEYS.scoped)).status).toBe(403);
    // …while the scoped key still sends mail
    expect(
      (await postJson(api, { from: "a@sender.test", to: "x@one.test", text: "x" }, bearer(KEYS.scoped))).status,
    ).toBe(202);
  });

  it("shows the config with every secret hidden", async () => {
    const body = await (await call("GET", "/v1/config")).json();
    expect(body.api.keys[0]).toEqual({ id: "full", hash: "(hidden)" });
    expect(JSON.stringify(body)).not.toMatch(/sha256:[0-9a-f]{64}/);
  });

  it("explains what limits a zone and destination", async () => {
    await deferred(["a@one.test"], "421 4.7.0 try again later");
    const body = await (await call("GET", "/v1/queue/diagnose?zone=default&domain=one.test")).json();
    expect(body.zone).toMatchObject({ name: "default", connections: { limit: 5, rule: "zones.default.connections" } });
    expect(body.destination).toMatchObject({
      key: "one.test",
      maxConnections: { limit: 5, rule: "built-in default" },
    });
    expect(body.lastReplies[0]).toMatchObject({ recipient: "a@one.test", lastResponse: "421 4.7.0 try again later" });
    expect(body.findings.length).toBeGreaterThan(0);
  });
});
