// THE Hono app of the HTTP API: built from its dependencies, no globals, so Node (server.ts) and Lambda wrap the
// same object.
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { createAuthThrottle } from "../shared/auth/auth-throttle.ts";
import { MailError, toMailError } from "../shared/errors.ts";
import { adminRoutes } from "./admin/routes.ts";
import { createAdminSessions } from "./admin/session.ts";
import type { ApiEnv, AppDeps } from "./app-env.ts";
import { callerAuth } from "./auth.ts";
import { OPENAPI } from "./openapi.ts";
import { problem, problemResponse } from "./problem.ts";
import { healthRoutes } from "./routes/health.ts";
import { insightRoutes } from "./routes/insight.ts";
import { messageStatusRoutes } from "./routes/message-status.ts";
import { messageRoutes } from "./routes/messages.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { queueRoutes } from "./routes/queue.ts";
import { suspensionRoutes } from "./routes/suspensions.ts";
import { tlsReportRoutes } from "./routes/tls-reports.ts";
import { uploadRoutes, uploadTargetRoutes } from "./routes/uploads.ts";

export type { AppDeps } from "./app-env.ts";

export function createApp(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();

  const { admin } = deps.config;
  // Admin sessions exist only when admins are configured; then the session cookie is a second way to call /v1.
  const sessions =
    admin.enabled && Object.keys(admin.users).length > 0
      ? createAdminSessions({ secret: admin.sessionSecret, ttlMs: admin.sessionTtl })
      : undefined;
  // Failed logins are counted in the coordinator (all hosts); without one (a Lambda intake) nothing is throttled.
  const throttle =
    deps.coordinator && deps.config.authThrottle.enabled
      ? createAuthThrottle(deps.coordinator, deps.config.authThrottle, {
          now: deps.clock.now,
          onError: (err) => deps.logger.warn({ err }, "auth throttle unavailable; logins are not throttled"),
        })
      : undefined;
  const auth = callerAuth(deps.config.api.keys, sessions, deps.clock, throttle);
  app.route("/", healthRoutes(deps));
  app.get("/openapi.json", (c) => c.json(OPENAPI));
  if (!deps.config.metrics.public) app.use("/metrics", auth);
  app.route("/", metricsRoutes(deps));
  app.route("/admin", adminRoutes(deps, sessions, throttle));
  // The upload URL is authorised by its signed query, not an API key (like an S3 presigned URL): before the check.
  app.route("/v1/uploads", uploadTargetRoutes(deps));
  app.use("/v1/*", auth);
  app.route("/v1/uploads", uploadRoutes(deps));
  app.route("/v1/messages", messageRoutes(deps));
  app.route("/v1/messages", messageStatusRoutes(deps));
  app.route("/v1/suspensions", suspensionRoutes(deps));
  app.route("/v1/tls-reports", tlsReportRoutes(deps));
  app.route("/v1/queue", queueRoutes(deps));
  app.route("/v1", insightRoutes(deps));

  app.notFound((c) => problemResponse(new MailError("not-found", `No endpoint ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    // Hono's own errors (e.g. a malformed request it refuses) keep their status.
    if (err instanceof HTTPException && err.status < 500) {
      return problem({ status: err.status, kind: "invalid-request", title: "Invalid request", detail: err.message });
    }
    const mailError = toMailError(err);
    const log = { err, method: c.req.method, path: c.req.path, keyId: c.get("caller")?.keyId, kind: mailError.kind };
    if (mailError.httpStatus >= 500) deps.logger.error(log, "api request failed");
    else deps.logger.debug(log, "api request refused");
    return problemResponse(mailError);
  });

  return app;
}
