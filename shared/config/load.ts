// Reads the config file (YAML or JSON), applies environment overrides, validates it and freezes the result.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { type Config, configSchema } from "./schema.ts";

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [],
  ) {
    super(problems.length ? `${message}\n${problems.map((p) => `  - ${p}`).join("\n")}` : message);
    this.name = "ConfigError";
  }
}

/** Env vars named ZONERELAY__a__b set config key a.b (JSON values are parsed, anything else is a string). */
export const ENV_PREFIX = "ZONERELAY__";

export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).split("__").filter(Boolean);
    let node: Record<string, unknown> = out;
    for (const key of path.slice(0, -1)) {
      if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path.at(-1)!] = parseEnvValue(value);
  }
  if (env.LOG_LEVEL) out.log = { ...(out.log as object), level: env.LOG_LEVEL };
  return out;
}

function parseEnvValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

export function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`);
}

/** Validates a raw config object. Throws ConfigError listing every problem with its path. */
export function parseConfig(raw: unknown): Readonly<Config> {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError("invalid configuration", formatIssues(result.error.issues));
  const config = result.data;
  if (!config.hostname) config.hostname = hostname();
  return deepFreeze(config);
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    const parsed = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
    if (parsed !== null && typeof parsed !== "object") throw new Error("the top level must be a mapping");
    return (parsed ?? {}) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`cannot parse config file ${file}: ${(err as Error).message}`);
  }
}

/** The config of this process: --config FILE, else $ZONERELAY_CONFIG, else defaults (embedded mode). */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const path = file ?? env.ZONERELAY_CONFIG;
  const raw = path ? readConfigFile(path) : {};
  return parseConfig(applyEnvOverrides(raw, env));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
