import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bearer, createTestApi, KEYS, postJson, type TestApi } from "../test-fixture.ts";

describe("GET and DELETE /v1/messages/:id", () => {
  let api: TestApi;
  let id: string;
  beforeEach(async () => {
    api = await createTestApi();
    const res = await postJson(api, {
      from: "app@sender.test",
      to: ["a@one.test", "b@two.test"],
      subject: "Hi",
      text: "x",
    });
    id = (await res.json()).id;
  });
  afterEach(() => api.close());

  const get = (path: string, key = KEYS.full) => api.app.request(path, { headers: bearer(key) });
  const del = (path: string, key = KEYS.full) => api.app.request(path, { method: "DELETE", headers: bearer(key) });

  it("shows each recipient's state with its attempt history", async () => {
    const [leased] = await api.queue.lease("default", { owner: "t", limit: 1, leaseMs: 60_000, now: api.clock.now() });
    const at = api.clock.now() + 1000;
    await api.queue.complete(leased!.id, "t", {
      outcome: "deferred",
      attempt: {
        deliveryId: leased!.id,
        at,
        durationMs: 120,
        outcome: "deferred",
        response: "451 4.7.1 greylisted",
        mx: "mx.one.test",
      },
      nextAttemptAt: at + 300_000,
    });

    const res = await get(`/v1/messages/${id}`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ id, from: "app@sender.test", subject: "Hi", receivedAt: "2026-11-25T06:00:00.000Z" });
    expect(body.bodyId).toBeUndefined();
    const deferred = body.deliveries.find((d: { id: string }) => d.id === leased!.id);
    expect(deferred).toMatchObject({
      state: "deferred",
      attempts: 1,
      lastResponse: "451 4.7.1 greylisted",
      nextAttemptAt: new Date(at + 300_000).toISOString(),
      history: [
        { at: new Date(at).toISOString(), outcome: "deferred", response: "451 4.7.1 greylisted", mx: "mx.one.test" },
      ],
    });
    expect(body.deliveries.find((d: { id: string }) => d.id !== leased!.id)).toMatchObject({
      state: "queued",
      history: [],
    });
  });

  it("answers 404 for an unknown id, and for a message outside a scoped key's zones", async () => {
    const unknown = await get("/v1/messages/nope");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ type: "urn:zonerelay:problem:not-found" });
    expect((await get(`/v1/messages/${id}`, KEYS.scoped)).status).toBe(404);
    expect((await del(`/v1/messages/${id}`, KEYS.scoped)).status).toBe(404);
  });

  it("cancels what is left, then answers 409 when nothing is", async () => {
    const res = await del(`/v1/messages/${id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id, cancelled: 2 });
    const status = await api.queue.getMessage(id);
    expect(status?.deliveries.map((d) => d.state)).toEqual(["cancelled", "cancelled"]);

    const again = await del(`/v1/messages/${id}`);
    expect(again.status).toBe(409);
    expect(again.headers.get("content-type")).toBe("application/problem+json");
    expect(await again.json()).toMatchObject({ type: "urn:zonerelay:problem:nothing-to-cancel", status: 409 });
  });

  it("answers 404 when cancelling an unknown id", async () => {
    expect((await del("/v1/messages/nope")).status).toBe(404);
  });
});
