// Operators' view of automatic back-off: GET /v1/suspensions lists local addresses resting from a destination,
// DELETE /v1/suspensions/:destination/:localAddress lifts one by hand. Keys scoped to zones may not (403).
import { Hono } from "hono";
import { MailError } from "../../shared/errors.ts";
import { liftSuspension, listSuspensions } from "../../shared/shaping/suspensions.ts";
import type { ApiEnv, AppDeps } from "../app-env.ts";
import { audit } from "../operator.ts";

export function suspensionRoutes(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();

  app.use("*", async (c, next) => {
    if (c.get("caller").zones) {
      throw new MailError(
        "zone-not-allowed",
        "Suspensions are cluster-wide: a key limited to zones may not manage them",
      );
    }
    if (!deps.coordinator) throw new MailError("not-found", "This deployment has no coordinator (no relay hosts)");
    await next();
  });

  app.get("/", async (c) => {
    const list = await listSuspensions(deps.coordinator!, c.req.query("destination") || undefined);
    return c.json({
      suspensions: list.map((s) => ({ ...s, expiresAt: new Date(s.expiresAt).toISOString() })),
    });
  });

  app.delete("/:destination/:localAddress", async (c) => {
    const { destination, localAddress } = c.req.param();
    const existing = await listSuspensions(deps.coordinator!, destination);
    if (!existing.some((s) => s.localAddress === localAddress)) {
      throw new MailError("not-found", `No suspension of ${localAddress} for ${destination}`);
    }
    await liftSuspension(deps.coordinator!, destination, localAddress);
    await audit(c, deps, "suspension.lift", { destination, localAddress }, 1);
    return c.json({ lifted: { destination, localAddress } });
  });

  return app;
}
