// bench/lambda-cold-start: what a cold Lambda pays before answering, measured in fresh Node processes. The handler
// is bundled with esbuild as SST ships it (lazy imports become chunks loaded on the first request), then each
// process times the module import (Lambda's init phase), the first request (config, app, S3 + SQS clients) and a
// warm one. No network is touched: building the backends makes no request. Prints one line:
//   lambda-cold-start runs=5 bundle=…KB import=…ms first=…ms warm=…ms (medians) tsx-import=…ms
// Usage: npx tsx bench/lambda-cold-start.ts [RUNS]
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { LAMBDA_EXTERNALS } from "../infra/plan/bundle.ts";

const RUNS = Number(process.argv[2] ?? 5);
const root = resolve(import.meta.dirname, "..");
const out = mkdtempSync(join(tmpdir(), "zr-lambda-bench-"));

try {
  await build({
    entryPoints: { lambda: join(root, "functions/lambda.ts") },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    outdir: out,
    minify: true,
    logLevel: "error",
    // As infra/intake.ts bundles it: modules never loaded on the S3 + SQS path stay out.
    external: LAMBDA_EXTERNALS,
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  // The web admin reads its assets beside the module; infra/intake.ts copies them into the function the same way.
  cpSync(join(root, "functions/admin/assets"), join(out, "assets"), { recursive: true });
  const bundleKb =
    readdirSync(out, { recursive: true, withFileTypes: true })
      .filter((f) => f.isFile())
      .reduce((sum, f) => sum + statSync(join(f.parentPath, f.name)).size, 0) / 1024;

  const probe = join(out, "probe.mjs");
  writeFileSync(
    probe,
    `const t0 = performance.now();
const { handler } = await import(process.argv[2]);
const t1 = performance.now();
const event = (path) => ({ version: "2.0", routeKey: "$default", rawPath: path, rawQueryString: "", headers: { host: "fn.lambda-url.us-east-1.on.aws" },
  requestContext: { http: { method: "GET", path, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "bench" }, requestId: "r", routeKey: "$default", stage: "$default", timeEpoch: Date.now() },
  body: null, isBase64Encoded: false });
const first = await handler(event("/health"), {});
const t2 = performance.now();
await handler(event("/health"), {});
const t3 = performance.now();
if (first.statusCode !== 200) throw new Error("health answered " + first.statusCode + " " + first.body);
console.log(JSON.stringify({ importMs: t1 - t0, firstMs: t2 - t1, warmMs: t3 - t2 }));
`,
  );
  // The function's configuration, as infra/intake.ts sets it (the bucket and queues need not exist for /health).
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: "bench",
    AWS_SECRET_ACCESS_KEY: "bench",
    AWS_REGION: "us-east-1",
    LOG_LEVEL: "silent",
    ZONERELAY__queue__backend: "sqs",
    ZONERELAY__aws__bucket: "zonerelay-bench",
    ZONERELAY__aws__endpoint: "http://127.0.0.1:9",
    ZONERELAY__api__keys: JSON.stringify([{ id: "bench", hash: `sha256:${"0".repeat(64)}` }]),
  };
  const run = (args: string[]) =>
    JSON.parse(
      execFileSync(process.execPath, args, { env, cwd: root, encoding: "utf8" }).trim().split("\n").pop()!,
    ) as {
      importMs: number;
      firstMs: number;
      warmMs: number;
    };
  const bundled = Array.from({ length: RUNS }, () => run([probe, join(out, "lambda.js")]));
  // For comparison: the unbundled sources through tsx's loader (how the Node server starts; transpiles on import).
  const tsx = run(["--import", "tsx", probe, join(root, "functions/lambda.ts")]);
  const median = (key: "importMs" | "firstMs" | "warmMs") => {
    const sorted = bundled.map((r) => r[key]).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!.toFixed(1);
  };
  console.log(
    `lambda-cold-start runs=${RUNS} bundle=${bundleKb.toFixed(0)}KB import=${median("importMs")}ms first=${median("firstMs")}ms warm=${median("warmMs")}ms (medians) tsx-import=${tsx.importMs.toFixed(0)}ms`,
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}
