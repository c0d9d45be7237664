import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bearer, createTestApi, KEYS, postJson, type TestApi } from "./test-fixture.ts";

const message = { from: "app@sender.test", to: "a@one.test", subject: "Hi", text: "x" };

describe("API key authentication", () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await createTestApi();
  });
  afterEach(() => api.close());

  it("answers 401 with a Bearer challenge when the key is missing", async () => {
    const res = await api.app.request("/v1/messages", { method: "POST", body: JSON.stringify(message) });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="zonerelay"');
    expect(await res.json()).toMatchObject({ type: "urn:zonerelay:problem:auth-required", status: 401 });
  });

  it("answers 401 invalid_token for a wrong key, and queues nothing", async () => {
    const res = await postJson(api, message, bearer("zr_wrong"));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(await res.json()).toMatchObject({ type: "urn:zonerelay:problem:auth-failed" });
    const bodies: string[] = [];
    for await (const id of api.bodyStore.list()) bodies.push(id);
    expect(bodies).toEqual([]);
  });

  it("protects status and cancel too, but not /health", async () => {
    expect((await api.app.request("/v1/messages/x")).status).toBe(401);
    expect((await api.app.request("/v1/messages/x", { method: "DELETE" })).status).toBe(401);
    expect((await api.app.request("/health")).status).toBe(200);
  });

  it("answers 403 when a key scoped to zone a asks for zone b", async () => {
    const res = await postJson(api, { ...message, zone: "b" }, bearer(KEYS.scoped));
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ type: "urn:zonerelay:problem:zone-not-allowed", field: "zone" });
  });

  it("sends a scoped key's message through its zone when none is asked for", async () => {
    const res = await postJson(api, message, bearer(KEYS.scoped));
    expect(res.status).toBe(202);
    expect((await res.json()).deliveries[0].zone).toBe("a");
  });

  it("accepts any case of the Bearer scheme (RFC 6750)", async () => {
    expect((await postJson(api, message, { authorization: `bearer ${KEYS.full}` })).status).toBe(202);
  });

  it("runs without auth when no keys are configured", async () => {
    const open = await createTestApi({ api: { keys: [] } });
    try {
      const res = await open.app.request("/v1/messages", { method: "POST", body: JSON.stringify(message) });
      expect(res.status).toBe(202);
      const { id } = await res.json();
      expect((await open.queue.getMessage(id))?.message.source.user).toBe("anonymous");
    } finally {
      await open.close();
    }
  });
});
