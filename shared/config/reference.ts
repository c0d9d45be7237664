// Generates the config reference (docs/config.md) from the schema, so the documentation cannot drift from the code.
import { z } from "zod";
import { configSchema } from "./schema.ts";

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
}

export interface ReferenceRow {
  path: string;
  type: string;
  default: string;
  description: string;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((e) => JSON.stringify(e)).join(" \\| ");
  if (s.anyOf) return [...new Set(s.anyOf.map(typeOf))].join(" \\| ");
  if (s.type === "array") return `${s.items ? typeOf(s.items) : "any"}[]`;
  if (s.type === "object" && s.additionalProperties && typeof s.additionalProperties === "object") return "map";
  return Array.isArray(s.type) ? s.type.join(" \\| ") : (s.type ?? "any");
}

function walk(s: JsonSchema, path: string, rows: ReferenceRow[]) {
  if (path) {
    rows.push({
      path,
      type: typeOf(s),
      default: s.default === undefined ? "" : `\`${JSON.stringify(s.default)}\``,
      description: (s.description ?? "").replace(/\|/g, "\\|"),
    });
  }
  for (const [key, child] of Object.entries(s.properties ?? {})) walk(child, path ? `${path}.${key}` : key, rows);
  if (s.additionalProperties && typeof s.additionalProperties === "object")
    walk(s.additionalProperties, `${path}.<name>`, rows);
  if (s.type === "array" && s.items?.properties)
    walk({ ...s.items, description: undefined, default: undefined }, `${path}[]`, rows.length ? rows : rows);
}

export function configReferenceRows(): ReferenceRow[] {
  const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const rows: ReferenceRow[] = [];
  walk(schema, "", rows);
  // Array item objects appear as a header row without a type of their own; keep only their fields.
  return rows.filter((r) => !(r.path.endsWith("[]") && r.description === ""));
}

export function configReferenceMarkdown(): string {
  const lines = [
    "# Configuration reference",
    "",
    "<!-- Generated from shared/config/schema.ts by `npm run docs:config`; a test fails when it drifts. -->",
    "",
    "ZoneRelay reads one YAML or JSON file (`zonerelay start --config FILE`, or `ZONERELAY_CONFIG=FILE`).",
    "Every key is optional: the defaults are the embedded mode (local spool + SQLite queue, SMTP on 127.0.0.1:2525,",
    "HTTP on 127.0.0.1:12080). Unknown keys are errors. Durations accept `250ms`, `30s`, `5m`, `2h`, `30d` or",
    "milliseconds; sizes accept `512KB`, `25MB`, `1GB` or bytes.",
    "",
    "Any key can be overridden from the environment: `ZONERELAY__<path with __>` (JSON values are parsed), e.g.",
    "`ZONERELAY__dns__nameservers='[\"10.0.0.2\"]'` or `ZONERELAY__users__alice__password='scrypt$...'` for secrets.",
    "`LOG_LEVEL` overrides `log.level`. `<name>` stands for a key you choose (an interface, zone, pool, domain).",
    "",
    "| key | type | default | description |",
    "|---|---|---|---|",
    ...configReferenceRows().map((r) => `| \`${r.path}\` | ${r.type} | ${r.default} | ${r.description} |`),
    "",
  ];
  return lines.join("\n");
}
