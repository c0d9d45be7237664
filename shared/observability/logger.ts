// The process logger: pino JSON lines; child loggers carry msgId, deliveryId and zone.
import { type Logger, pino } from "pino";

export type { Logger };

export function createLogger(level: string = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { app: "zonerelay" }, timestamp: pino.stdTimeFunctions.isoTime });
}
