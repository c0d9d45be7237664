// The types every route shares: what the app is built from and what middleware puts on the request context.
import type { Logger } from "pino";
import type { Config } from "../shared/config/schema.ts";
import type { Submit } from "../shared/intake/submit-types.ts";
import type { BodyStore } from "../shared/ports/body-store.ts";
import type { Clock } from "../shared/ports/clock.ts";
import type { Coordinator } from "../shared/ports/coordinator.ts";
import type { Queue } from "../shared/ports/queue.ts";

export interface AppDeps {
  config: Readonly<Config>;
  queue: Queue;
  bodyStore: BodyStore;
  submit: Submit;
  clock: Clock;
  logger: Logger;
  /** Shared throttling state (suspensions); absent where no relay host runs (e.g. a Lambda-only intake). */
  coordinator?: Coordinator;
}

/** Who is calling: the API key's id ("anonymous" without keys) and the zones it may use (undefined = all). */
export interface Caller {
  keyId: string;
  zones?: readonly string[];
}

export interface ApiEnv {
  Variables: { caller: Caller };
}
