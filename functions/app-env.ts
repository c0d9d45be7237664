// The types every route shares: what the app is built from and what middleware puts on the request context.
import type { Logger } from "pino";
import type { TlsReportRunner } from "../relay/tls-policy/tls-rpt-send.ts";
import type { Config } from "../shared/config/schema.ts";
import type { Submit } from "../shared/intake/submit-types.ts";
import type { Metrics } from "../shared/observability/metrics.ts";
import type { PluginHost } from "../shared/plugins/host.ts";
import type { BodyStore } from "../shared/ports/body-store.ts";
import type { Clock } from "../shared/ports/clock.ts";
import type { Coordinator } from "../shared/ports/coordinator.ts";
import type { Queue } from "../shared/ports/queue.ts";
import type { QueueOps, RemovedDelivery } from "../shared/ports/queue-ops.ts";
import type { UploadStore } from "../shared/ports/upload-store.ts";

export interface AppDeps {
  config: Readonly<Config>;
  /** The api:submit hook (and the rest of the plugins, for handlers that need them). */
  plugins?: PluginHost;
  queue: Queue;
  bodyStore: BodyStore;
  submit: Submit;
  clock: Clock;
  logger: Logger;
  /** Shared throttling state (suspensions); absent where no relay host runs (e.g. a Lambda-only intake). */
  coordinator?: Coordinator;
  /** Queue operations and the audit trail (admin routes); absent when the queue backend offers none. */
  ops?: QueueOps;
  /** Staged uploads (POST /v1/uploads); absent when `uploads.enabled` is false. */
  uploads?: UploadStore;
  /** This host's Prometheus registry (GET /metrics); absent where nothing is scraped (a Lambda intake). */
  metrics?: Metrics;
  /** Sends the DSN for a delivery an operator bounced. */
  bounce?: (delivery: RemovedDelivery, reason: string) => Promise<void>;
  /** Work may be due now in these zones (after retry, release, flush): tell their senders to look. */
  wake?: (zones: readonly string[]) => void;
  /** TLS-RPT reports (GET/POST /v1/tls-reports); absent unless `tls.reports.enabled` on a relay host. */
  tlsReports?: TlsReportRunner;
}

/** Who is calling: the API key's id ("anonymous" without keys) and the zones it may use (undefined = all). */
export interface Caller {
  /** The API key's id, "anonymous", or `admin:<user>` for a web admin session. */
  keyId: string;
  zones?: readonly string[];
}

export interface ApiEnv {
  Variables: { caller: Caller };
}
