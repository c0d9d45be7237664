// TLS-RPT (RFC 8460) on demand: GET /v1/tls-reports?day=YYYY-MM-DD shows the day's aggregate reports (default:
// yesterday, UTC) and where each destination wants them; POST /v1/tls-reports/send?day=… sends them now (the daily
// timer does the same for yesterday). Operators only: keys limited to zones may not (403).
import { Hono } from "hono";
import { MailError } from "../../shared/errors.ts";
import type { ApiEnv, AppDeps } from "../app-env.ts";
import { audit } from "../operator.ts";

export function tlsReportRoutes(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();

  app.use("*", async (c, next) => {
    if (c.get("caller").zones) {
      throw new MailError("zone-not-allowed", "TLS reports are cluster-wide: a key limited to zones may not use them");
    }
    if (!deps.tlsReports) throw new MailError("not-found", "TLS reporting is off (tls.reports.enabled)");
    await next();
  });

  const dayOf = (q: string | undefined) => {
    const day = q ?? new Date(deps.clock.now() - 86_400_000).toISOString().slice(0, 10);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new MailError("invalid-request", "day must look like 2026-11-25");
    return day;
  };

  app.get("/", async (c) => {
    const day = dayOf(c.req.query("day"));
    return c.json({ day, reports: await deps.tlsReports!.run(day, { send: false }) });
  });

  app.post("/send", async (c) => {
    const day = dayOf(c.req.query("day"));
    const outcomes = await deps.tlsReports!.run(day, { send: true });
    await audit(c, deps, "tls-reports.send", { day }, outcomes.filter((o) => o.sent.length).length);
    return c.json({
      day,
      reports: outcomes.map(({ domain, rua, sent, errors }) => ({ domain, rua, sent, errors })),
    });
  });

  return app;
}
