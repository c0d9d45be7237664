// GET /health: cheap and unauthenticated, for load balancers; asks the ports' synchronous health, no I/O.
import { Hono } from "hono";
import type { ApiEnv, AppDeps } from "../app-env.ts";
import { RETRY_AFTER_SECONDS } from "../problem.ts";

export function healthRoutes(deps: Pick<AppDeps, "queue" | "bodyStore" | "coordinator">): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/health", (c) => {
    const reasons = [
      ["queue", deps.queue.unhealthyReason()],
      ["bodyStore", deps.bodyStore.unhealthyReason()],
    ].flatMap(([port, reason]) => (reason ? [`${port}: ${reason}`] : []));
    c.header("cache-control", "no-store");
    // Without the coordinator mail is still accepted (and waits to be sent): degraded, not unavailable.
    const coordinator = deps.coordinator?.unhealthyReason();
    const degraded = coordinator ? { degraded: [`coordinator: ${coordinator}`] } : {};
    if (reasons.length === 0) return c.json({ status: coordinator ? "degraded" : "ok", ...degraded });
    c.header("retry-after", String(RETRY_AFTER_SECONDS));
    return c.json({ status: "unavailable", reasons }, 503);
  });
  return app;
}
