// GET /metrics: this host's Prometheus registry in the text exposition format. Gauges read from the backends
// (queue depth, suspensions, warm-up) are refreshed on each scrape.
import { Hono } from "hono";
import type { ApiEnv, AppDeps } from "../app-env.ts";
import { operatorOnly } from "../operator.ts";

export function metricsRoutes(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const metrics = deps.metrics;
  if (!metrics) return app; // a Lambda intake has no scrape target (docs/operations.md)
  const guard = operatorOnly("Metrics");
  app.get(
    "/metrics",
    async (c, next) => (deps.config.metrics.public ? next() : guard(c, next)),
    async (c) => {
      const body = await metrics.scrape();
      return c.body(body, 200, { "content-type": metrics.contentType, "cache-control": "no-store" });
    },
  );
  return app;
}
