// The HTTP API fuzzed from its own OpenAPI document by schemathesis (PyPI; `scripts/services.sh up` installs it):
// examples, coverage, fuzzing and stateful phases with a bounded number of examples, against a relay with API keys
// and the web admin on. No request may crash the relay or earn a 5xx, every response must carry the documented
// content type and match its documented schema. SCHEMATHESIS_SEED replays a run; its seed is printed on failure.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey, hashPassword } from "../../shared/auth/password.ts";
import { startTestRelay, type TestRelay } from "../support/relay.ts";

const ST = process.env.SCHEMATHESIS ?? "/opt/zonerelay-test/schemathesis/bin/st";
const MAX_EXAMPLES = Number(process.env.SCHEMATHESIS_MAX_EXAMPLES ?? 20);
const KEY = "zr_schemathesis_0123456789abcdef0123";

let relay: TestRelay;
beforeAll(async () => {
  relay = await startTestRelay({
    api: { keys: [{ id: "fuzz", hash: hashApiKey(KEY) }] },
    admin: { users: { root: { password: await hashPassword("admin pw") } } },
    // The fuzzer sends thousands of requests; lockouts are tested elsewhere (auth-protection.test.ts).
    authThrottle: { enabled: false },
  });
});
afterAll(async () => {
  await relay?.cleanup();
});

/** Runs schemathesis without blocking this process: the relay under test lives in it. */
function run(args: string[], work: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(ST, args, {
      // schemathesis keeps a cache in its working directory: a temp one, never the repository.
      cwd: work,
      env: {
        ...process.env,
        SCHEMATHESIS_HOOKS: "schemathesis_hooks",
        PYTHONPATH: import.meta.dirname,
        PYTHONDONTWRITEBYTECODE: "1",
        NO_COLOR: "1",
      },
    });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("HTTP API fuzzing (schemathesis)", () => {
  it("finds no server error, no undocumented content type and no response off its schema", async () => {
    expect(existsSync(ST), `${ST} is missing: run \`bash scripts/services.sh up\` (as root)`).toBe(true);
    const args = [
      "run",
      `${relay.apiUrl}/openapi.json`,
      "-H",
      `Authorization: Bearer ${KEY}`,
      "--checks",
      "not_a_server_error,content_type_conformance,response_schema_conformance",
      "--max-examples",
      String(MAX_EXAMPLES),
      // One worker: Python 3.11's ast module is not thread-safe, and hypothesis parses lambdas with it.
      "--workers",
      "1",
      ...(process.env.SCHEMATHESIS_SEED ? ["--seed", process.env.SCHEMATHESIS_SEED] : []),
    ];
    const work = mkdtempSync(join(tmpdir(), "zr-schemathesis-"));
    const { code, output } = await run(args, work).finally(() => rmSync(work, { recursive: true, force: true }));
    const summary = output.slice(output.lastIndexOf("SUMMARY"));
    console.log(`[schemathesis] ${/Test cases:\s*\n\s*(.*)/.exec(summary)?.[1] ?? "no summary"}`);
    expect(code, `schemathesis ${args.join(" ")}\n${output.slice(-6000)}`).toBe(0);
    expect((await fetch(`${relay.apiUrl}/health`)).status).toBe(200);
  }, 300_000);
});
