import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUILTIN_PLUGINS } from "./builtin/index.ts";

const root = join(import.meta.dirname, "../..");
const doc = readFileSync(join(root, "docs/plugins.md"), "utf8");

describe("docs/plugins.md", () => {
  it("shows the example plugin exactly as it is in the repository", () => {
    const example = readFileSync(join(root, "examples/plugins/policy-tag.ts"), "utf8");
    expect(doc).toContain(`\`\`\`ts\n${example}\`\`\``);
  });

  it("documents every built-in plugin and every hook", () => {
    for (const name of Object.keys(BUILTIN_PLUGINS)) expect(doc).toContain(`\`core/${name}\``);
    const hooks = readFileSync(join(root, "shared/plugins/hooks.ts"), "utf8").match(/^ {2}"([a-z]+:[a-z_]+)":/gm)!;
    expect(hooks.length).toBe(14);
    for (const hook of hooks) expect(doc).toContain(`\`${hook.trim().slice(1, -2)}\``);
  });
});
