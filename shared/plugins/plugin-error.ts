// The error a plugin throws to refuse or defer something: temporary (4xx) unless it says permanent.
import { MailError } from "../errors.ts";

export class PluginError extends Error {
  override name = "PluginError";
  readonly permanent: boolean;
  readonly code: number | undefined;
  readonly enhanced: string | undefined;

  constructor(message: string, options: { permanent?: boolean; code?: number; enhanced?: string } = {}) {
    super(message);
    this.permanent = options.permanent ?? (options.code !== undefined && options.code >= 500);
    this.code = options.code;
    this.enhanced = options.enhanced;
  }
}

/** A plugin's failure as the error intake answers with: its own refusal, or a 451 for anything it threw. */
export function pluginFailure(err: unknown, plugin: string): MailError {
  if (err instanceof MailError) return err;
  if (err instanceof PluginError) {
    return new MailError(err.permanent ? "rejected" : "deferred", err.message, undefined, {
      ...(err.code === undefined ? {} : { smtp: err.code }),
      ...(err.enhanced === undefined ? {} : { enhanced: err.enhanced }),
    });
  }
  // A crash in a plugin is ours, not the sender's: try again later, never a permanent refusal.
  return new MailError("deferred", `Temporary local problem (plugin ${plugin}), try again later`);
}
