// The submit pipeline's settings that come from the config, in one place for every entry point (relay host,
// Lambda), so the two can never read the config differently.
import type { Config } from "../../shared/config/schema.ts";
import { createRouter } from "../../shared/intake/routing.ts";
import type { createSubmit } from "../../shared/intake/submit.ts";
import { dkimCanonicalizations } from "../sender/dkim.ts";

type SubmitDeps = Parameters<typeof createSubmit>[0];

export function submitSettings(
  config: Readonly<Config>,
): Pick<SubmitDeps, "hostname" | "zones" | "route" | "holdFutureDated" | "idempotencyTtl" | "dkimCanonicalizations"> {
  return {
    hostname: config.hostname,
    zones: Object.keys(config.zones),
    route: createRouter(config),
    holdFutureDated: config.queue.holdFutureDated,
    idempotencyTtl: config.api.idempotencyTtl,
    dkimCanonicalizations: dkimCanonicalizations(config),
  };
}
