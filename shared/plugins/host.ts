// The hook bus: handlers in a fixed order (plugins in config order, each plugin's handlers in the order it
// registered them), run one after another on a shared context. A handler's failure becomes a MailError: the
// plugin's own refusal (PluginError), or a temporary 451 for anything it threw by accident — never a crash.
import type { Logger } from "pino";
import type { MailError } from "../errors.ts";
import type { HookContexts, HookHandler, HookName } from "./hooks.ts";
import { PluginError, pluginFailure } from "./plugin-error.ts";

interface Registered {
  plugin: string;
  handler: HookHandler<HookName>;
}

export class PluginHost {
  private readonly handlers = new Map<HookName, Registered[]>();
  private readonly closers: { plugin: string; fn: () => void | Promise<void> }[] = [];
  /** Names of the loaded plugins, in order. */
  readonly plugins: string[] = [];

  constructor(private readonly logger: Logger) {}

  on<K extends HookName>(plugin: string, hook: K, handler: HookHandler<K>): void {
    const list = this.handlers.get(hook) ?? [];
    list.push({ plugin, handler: handler as HookHandler<HookName> });
    this.handlers.set(hook, list);
  }

  onClose(plugin: string, fn: () => void | Promise<void>): void {
    this.closers.push({ plugin, fn });
  }

  has(hook: HookName): boolean {
    return (this.handlers.get(hook)?.length ?? 0) > 0;
  }

  /** Runs every handler of `hook` in order on `ctx`; throws a MailError at the first that fails. */
  async run<K extends HookName>(hook: K, ctx: HookContexts[K]): Promise<HookContexts[K]> {
    for (const { plugin, handler } of this.handlers.get(hook) ?? []) {
      try {
        await handler(ctx);
      } catch (err) {
        throw this.failure(err, plugin, hook);
      }
    }
    return ctx;
  }

  /** Like `run`, for hooks whose failure must not stop anything (delivered, log entries): logged only. */
  async notify<K extends HookName>(hook: K, ctx: HookContexts[K]): Promise<void> {
    for (const { plugin, handler } of this.handlers.get(hook) ?? []) {
      try {
        await handler(ctx);
      } catch (err) {
        this.logger.error({ err, plugin, hook }, "plugin hook failed");
      }
    }
  }

  async close(): Promise<void> {
    for (const { plugin, fn } of [...this.closers].reverse()) {
      await Promise.resolve()
        .then(fn)
        .catch((err) => this.logger.error({ err, plugin }, "plugin close failed"));
    }
  }

  private failure(err: unknown, plugin: string, hook: HookName): MailError {
    if (!(err instanceof PluginError)) this.logger.error({ err, plugin, hook }, "plugin hook threw");
    else this.logger.info({ plugin, hook, reason: err.message, permanent: err.permanent }, "plugin refused");
    return pluginFailure(err, plugin);
  }
}

/** A host without plugins, for roles and tests that load none. */
export function emptyPluginHost(logger: Logger): PluginHost {
  return new PluginHost(logger);
}
