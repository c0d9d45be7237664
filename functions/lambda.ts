// Lambda entry of the HTTP API: THE app (app.ts) behind hono/aws-lambda, for a function URL or API Gateway.
// Everything is imported and opened on the first invocation, not at module load: no network call happens during
// the init phase, and a module graph that is not needed (MongoDB, SQLite, the relay's senders) is never loaded.
import type { APIGatewayProxyResult, LambdaContext, LambdaEvent } from "hono/aws-lambda";
import type { Logger } from "pino";
import type { Config } from "../shared/config/schema.ts";
import type { Clock } from "../shared/ports/clock.ts";

export type LambdaHandler = (event: LambdaEvent, context: LambdaContext) => Promise<APIGatewayProxyResult>;

export interface LambdaApi {
  handler: LambdaHandler;
  /** Closes the backends (tests; Lambda itself just freezes the process). */
  close(): Promise<void>;
}

/**
 * Builds the handler from a config (default: `ZONERELAY_CONFIG` and `ZONERELAY__*` variables, which is how the
 * stack in infra/ configures the function, secrets included). Backends come from openBackends like everywhere
 * else: S3 + SQS (idempotency keys live in the status bucket), and Redis when `dbs.redis` is set, so failed-login
 * throttling counts across every concurrent instance and the relay hosts.
 */
export async function createLambdaApi(
  options: { config?: Readonly<Config>; logger?: Logger; clock?: Clock } = {},
): Promise<LambdaApi> {
  const [{ handle }, { createApp }, { loadConfig }, { openBackends }, { createSubmit }] = await Promise.all([
    import("hono/aws-lambda"),
    import("./app.ts"),
    import("../shared/config/load.ts"),
    import("../shared/adapters/open-backends.ts"),
    import("../shared/intake/submit.ts"),
  ]);
  const config = options.config ?? (await configFromEnvironment(loadConfig));
  // A function URL is public: unlike the Node server there is no loopback bind to fall back on.
  if (config.api.keys.length === 0) {
    throw new Error("refusing to serve the HTTP API on Lambda without api.keys (ZONERELAY__api__keys)");
  }
  const [{ createLogger }, { systemClock }, { PluginHost }, { submitSettings }] = await Promise.all([
    import("../shared/observability/logger.ts"),
    import("../shared/ports/clock.ts"),
    import("../shared/plugins/host.ts"),
    import("../relay/intake/submit-settings.ts"),
  ]);
  const logger = options.logger ?? createLogger(config.log.level);
  const clock = options.clock ?? systemClock;
  // The loader (and the built-in plugins behind it, one with a native SQLite module) only when plugins are set.
  const plugins = config.plugins.length
    ? await (await import("../shared/plugins/loader.ts")).loadPlugins(config, logger, {
        baseDir: process.env.LAMBDA_TASK_ROOT ?? process.cwd(),
      })
    : new PluginHost(logger);
  const backends = await openBackends(config, clock);
  const { queue, bodyStore, coordinator, ops, uploads } = backends;
  const submit = createSubmit({
    queue,
    bodyStore,
    clock,
    ...submitSettings(config),
    logger,
    plugins,
  });
  const app = createApp({
    config,
    plugins,
    queue,
    bodyStore,
    submit,
    clock,
    logger,
    // Without Redis the coordinator is this invocation's memory: it would throttle nothing across instances.
    ...(config.dbs.redis ? { coordinator } : {}),
    ...(ops ? { ops } : {}),
    ...(uploads ? { uploads } : {}),
  });
  logger.info({ queue: config.queue.backend, zones: Object.keys(config.zones) }, "lambda api ready");
  return {
    handler: handle(app) as LambdaHandler,
    async close() {
      await backends.close();
      await plugins.close();
    },
  };
}

/**
 * `ZONERELAY_CONFIG_PARAMETER` names an SSM SecureString holding the whole config as JSON (what infra/configs.ts
 * renders, secrets included: Lambda's environment is capped at 4 KB and shown in the console); `ZONERELAY__*`
 * variables still override it. Without it: `ZONERELAY_CONFIG` (a file in the bundle) and the variables.
 */
async function configFromEnvironment(
  loadConfig: typeof import("../shared/config/load.ts").loadConfig,
): Promise<Readonly<Config>> {
  const name = process.env.ZONERELAY_CONFIG_PARAMETER;
  if (!name) return loadConfig(undefined);
  const [{ SSMClient, GetParameterCommand }, { parseConfig, applyEnvOverrides }] = await Promise.all([
    import("@aws-sdk/client-ssm"),
    import("../shared/config/load.ts"),
  ]);
  const ssm = new SSMClient({});
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    const raw = JSON.parse(out.Parameter?.Value ?? "{}") as Record<string, unknown>;
    return parseConfig(applyEnvOverrides(raw, process.env));
  } finally {
    ssm.destroy();
  }
}

let ready: Promise<LambdaApi> | undefined;

/** The function's handler: the API is built once per execution environment, on its first request. */
export const handler: LambdaHandler = async (event, context) => {
  ready ??= createLambdaApi().catch((err) => {
    ready = undefined; // the next invocation tries again rather than failing forever
    throw err;
  });
  return (await ready).handler(event, context);
};
