import { afterEach, describe, expect, it } from "vitest";
import { createTestApi, type TestApi } from "../test-fixture.ts";

describe("GET /health", () => {
  let api: TestApi | undefined;
  afterEach(() => api?.close());

  it("answers 200 ok without an API key", async () => {
    api = await createTestApi();
    const res = await api.app.request("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("answers 503 with the reasons when a port reports itself unhealthy", async () => {
    api = await createTestApi({ wrapQueue: (q) => ({ ...q, unhealthyReason: () => "database is locked" }) });
    const res = await api.app.request("/health");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("30");
    expect(await res.json()).toEqual({ status: "unavailable", reasons: ["queue: database is locked"] });
  });
});
