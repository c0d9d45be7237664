// Operator access: routes only an unscoped caller (API key without `zones`, or a web admin) may use, and the audit
// trail every operator action leaves — a pino line and a stored record (listed at GET /v1/audit).
import type { Context, MiddlewareHandler } from "hono";
import { newId } from "../shared/domain/ids.ts";
import { MailError } from "../shared/errors.ts";
import type { ApiEnv, AppDeps, Caller } from "./app-env.ts";

/** Refuses keys limited to zones (403): operations span tenants. */
export function operatorOnly(what: string): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (c.get("caller").zones) {
      throw new MailError("zone-not-allowed", `${what} span every zone: a key limited to zones may not use them`);
    }
    await next();
  };
}

/** Who, as written in the audit trail: `key:<id>`, `admin:<user>` or `anonymous`. */
export function actorOf(caller: Caller): string {
  if (caller.keyId === "anonymous" || caller.keyId.startsWith("admin:")) return caller.keyId;
  return `key:${caller.keyId}`;
}

/**
 * Records an operator action: one `audit` log line (always) and a stored entry (where the queue keeps one).
 * Called after the action succeeded, with what it changed.
 */
export async function audit(
  c: Context<ApiEnv>,
  deps: Pick<AppDeps, "ops" | "logger" | "clock">,
  action: string,
  target: Record<string, unknown>,
  affected: number,
  detail?: string,
): Promise<void> {
  const at = deps.clock.now();
  const entry = {
    id: newId(at),
    at,
    actor: actorOf(c.get("caller")),
    action,
    target,
    affected,
    ...(detail === undefined ? {} : { detail }),
  };
  deps.logger.info({ audit: entry }, `audit: ${entry.actor} ${action}`);
  await deps.ops?.appendAudit(entry);
}
