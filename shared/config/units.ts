// Parsers for the human strings config accepts ("30d", "25MB", "100/hour"), so the rest of the code sees numbers.
import { z } from "zod";

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const sizeUnits: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** "90s", "5m", "30d", "250ms" or a bare number of milliseconds → milliseconds. */
export function parseDuration(input: string | number): number {
  if (typeof input === "number") return input;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(input);
  if (!m) throw new Error(`"${input}" is not a duration (examples: 250ms, 30s, 5m, 2h, 30d)`);
  return Math.round(Number(m[1]) * durationUnits[m[2]!.toLowerCase()]!);
}

/** "25MB", "512kb", "1GB" or a bare number of bytes → bytes. */
export function parseSize(input: string | number): number {
  if (typeof input === "number") return input;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(input);
  if (!m) throw new Error(`"${input}" is not a size (examples: 512KB, 25MB, 1GB)`);
  return Math.round(Number(m[1]) * sizeUnits[(m[2] ?? "b").toLowerCase()]!);
}

function transformWith<T>(parse: (v: string | number) => T) {
  return (value: string | number, ctx: z.RefinementCtx) => {
    try {
      return parse(value);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  };
}

/** A zod field accepting a duration string or milliseconds, yielding milliseconds. */
export const duration = () =>
  z.union([z.string(), z.number().int().nonnegative()]).transform(transformWith(parseDuration));
/** A zod field accepting a size string or bytes, yielding bytes. */
export const size = () => z.union([z.string(), z.number().int().positive()]).transform(transformWith(parseSize));

export interface Rate {
  /** Messages allowed per `perMs`. */
  count: number;
  perMs: number;
}

const rateUnits: Record<string, number> = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** "100 messages/second", "100/minute", "5000 / hour" (ZoneMTA's throttling strings) → count per period. */
export function parseRate(input: string): Rate {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:messages?|msgs?)?\s*\/\s*(second|minute|hour|day)s?\s*$/i.exec(input);
  if (!m || Number(m[1]) <= 0) {
    throw new Error(`"${input}" is not a rate (examples: "100 messages/second", "5000/hour")`);
  }
  return { count: Number(m[1]), perMs: rateUnits[m[2]!.toLowerCase()]! };
}

/** A zod field accepting a rate string, yielding { count, perMs }. */
export const rate = () => z.string().transform(transformWith((v) => parseRate(String(v))));
