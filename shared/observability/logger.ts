// The process logger: pino JSON lines; child loggers carry msgId, deliveryId and zone. Secrets never reach a line:
// fields that carry them are censored by path, and credentials inside URLs are cut out of error messages.
import { type DestinationStream, type Logger, pino } from "pino";
import { hideUrlCredentials } from "../config/redact.ts";

export type { Logger };

/**
 * Fields whose values are secrets wherever they appear (pino's redact paths: one wildcard level each). Our own
 * log calls never pass them; this is the net for an object logged whole (a config section, a request, an error
 * that carries its options).
 */
export const REDACT_PATHS = [
  "password",
  "pass",
  "secret",
  "sessionSecret",
  "privateKey",
  "apiKey",
  "token",
  "authorization",
  "cookie",
  "*.password",
  "*.pass",
  "*.secret",
  "*.sessionSecret",
  "*.privateKey",
  "*.apiKey",
  "*.token",
  "*.authorization",
  "*.cookie",
  "*.auth.pass",
  "*.*.auth.pass",
  "headers.authorization",
  "headers.cookie",
  "*.headers.authorization",
  "*.headers.cookie",
  'headers["x-api-key"]',
];

/** pino's error serializer, with `user:password@` taken out of URLs in the message and stack. */
function errSerializer(err: Error) {
  const out = pino.stdSerializers.err(err);
  if (typeof out.message === "string") out.message = hideUrlCredentials(out.message);
  if (typeof out.stack === "string") out.stack = hideUrlCredentials(out.stack);
  return out;
}

export function createLogger(level: string = process.env.LOG_LEVEL ?? "info", destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { app: "zonerelay" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: "(hidden)" },
    serializers: { err: errSerializer },
  };
  return destination ? pino(options, destination) : pino(options);
}
