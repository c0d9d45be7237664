// Option parsing for built-in plugins: each validates its `options` with a strict zod schema, so a typo in a plugin
// option stops the start with its path, like any other config error.
import type { z } from "zod";
import { formatIssues } from "../../config/load.ts";

export function parseOptions<S extends z.ZodType>(schema: S, options: Record<string, unknown>): z.infer<S> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) throw new Error(`invalid options: ${formatIssues(parsed.error.issues).join("; ")}`);
  return parsed.data;
}
