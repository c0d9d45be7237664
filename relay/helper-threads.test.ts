import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const moduleUrl = new URL("./helper-threads.ts", import.meta.url).href;

// A child process of its own, so the test runner's threads keep their priority: it starts a worker thread and
// libuv's pool, lowers the helpers, then reports every thread's nice value.
const CHILD = `
import { readdirSync } from "node:fs";
import { getPriority } from "node:os";
import { Worker } from "node:worker_threads";
import { readFile } from "node:fs/promises";
const { lowerHelperThreads } = await import(${JSON.stringify(moduleUrl)});
const worker = new Worker("setInterval(() => {}, 1000)", { eval: true });
await new Promise((r) => worker.once("online", r));
await readFile(process.execPath).catch(() => {}); // starts libuv's pool
const lowered = lowerHelperThreads(Number(process.argv[1]));
const again = lowerHelperThreads(Number(process.argv[1]));
const threads = readdirSync("/proc/self/task").map((t) => ({ tid: Number(t), nice: getPriority(Number(t)) }));
console.log(JSON.stringify({ pid: process.pid, lowered, again, threads }));
await worker.terminate();
`;

async function childReport(nice: number) {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", CHILD, String(nice)],
    {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
    },
  );
  return JSON.parse(stdout) as {
    pid: number;
    lowered: number;
    again: number;
    threads: { tid: number; nice: number }[];
  };
}

describe.runIf(process.platform === "linux")("lowerHelperThreads", () => {
  it("lowers every thread but the event loop's, once", async () => {
    const report = await childReport(7);
    const main = report.threads.find((t) => t.tid === report.pid);
    const helpers = report.threads.filter((t) => t.tid !== report.pid);
    expect(main?.nice).toBe(0);
    // the worker, libuv's four pool threads, V8's platform threads, at least
    expect(helpers.length).toBeGreaterThanOrEqual(6);
    expect(helpers.every((t) => t.nice === 7)).toBe(true);
    expect(report.lowered).toBe(helpers.length);
    expect(report.again).toBe(0); // already low enough: left alone
  });

  it("does nothing with 0", async () => {
    const report = await childReport(0);
    expect(report.lowered).toBe(0);
    expect(report.threads.every((t) => t.nice === 0)).toBe(true);
  });
});
