import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashPassword } from "../shared/auth/password.ts";
import { createMetrics } from "../shared/observability/metrics.ts";
import { createApp } from "./app.ts";
import { OPENAPI } from "./openapi.ts";
import { createTestApi, type TestApi } from "./test-fixture.ts";

describe("GET /openapi.json", () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await createTestApi({ admin: { users: { alice: { password: await hashPassword("pw") } } } });
  });
  afterEach(() => api.close());

  it("describes every route the app registers (with metrics and the admin on)", () => {
    const app = createApp({
      config: api.config,
      queue: api.queue,
      bodyStore: api.bodyStore,
      submit: () => Promise.reject(new Error("unused")),
      clock: api.clock,
      logger: pino({ level: "silent" }),
      ops: api.ops,
      metrics: createMetrics({ destinationLabels: 5, destinations: [], processMetrics: false }),
    });
    const paths = OPENAPI.paths as Record<string, Record<string, unknown>>;
    const routes = app.routes.filter((r) => r.method !== "ALL" && !r.path.includes("*"));
    expect(routes.length).toBeGreaterThan(20);
    const missing = routes
      .map((r) => ({ method: r.method.toLowerCase(), path: r.path.replace(/:(\w+)/g, "{$1}") }))
      .filter((r) => !paths[r.path]?.[r.method])
      .map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(missing).toEqual([]);
  });

  it("is served without a key, as OpenAPI 3.1", async () => {
    const res = await api.app.request("/openapi.json");
    expect(res.status).toBe(200);
    const doc = await res.json();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/v1/queue/deliveries");
  });
});
