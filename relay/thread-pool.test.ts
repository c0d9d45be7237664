import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const moduleUrl = new URL("./thread-pool.ts", import.meta.url).href;

// A child process of its own, so the test runner's threads keep their priority. It lowers the pool, then asks the
// pool threads again, one readlink of /proc/thread-self each (written here, not through the module under test),
// and reports every thread's nice value.
const CHILD = `
import { readdirSync } from "node:fs";
import { readlink } from "node:fs/promises";
import { getPriority } from "node:os";
const { lowerPoolThreads } = await import(${JSON.stringify(moduleUrl)});
const nice = Number(process.argv[1]);
const lowered = await lowerPoolThreads(nice);
const pool = new Set();
for (let i = 0; i < 20; i++) {
  for (const link of await Promise.all(Array.from({ length: 64 }, () => readlink("/proc/thread-self")))) {
    pool.add(Number(link.split("/").at(-1)));
  }
}
const threads = readdirSync("/proc/self/task").map((t) => ({ tid: Number(t), nice: getPriority(Number(t)) }));
console.log(JSON.stringify({ pid: process.pid, lowered, pool: [...pool], threads }));
`;

async function childReport(nice: number, env: Record<string, string> = {}) {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", CHILD, String(nice)],
    {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      env: { ...process.env, ...env },
    },
  );
  return JSON.parse(stdout) as {
    pid: number;
    lowered: number[];
    pool: number[];
    threads: { tid: number; nice: number }[];
  };
}

describe.runIf(process.platform === "linux")("lowerPoolThreads", () => {
  it("lowers libuv's pool threads and no other thread", async () => {
    const report = await childReport(7);
    expect(report.pool).toHaveLength(4);
    expect([...report.lowered].sort()).toEqual([...report.pool].sort());
    for (const t of report.threads) expect(t.nice, `thread ${t.tid}`).toBe(report.pool.includes(t.tid) ? 7 : 0);
    // V8's platform threads (and the main thread) are the rest, at least five of them
    expect(report.threads.length - report.pool.length).toBeGreaterThanOrEqual(5);
  });

  it("finds a pool of another size (UV_THREADPOOL_SIZE)", async () => {
    const report = await childReport(5, { UV_THREADPOOL_SIZE: "6" });
    expect(report.pool).toHaveLength(6);
    expect(report.lowered).toHaveLength(6);
  });

  it("does nothing with 0", async () => {
    const report = await childReport(0);
    expect(report.lowered).toEqual([]);
    expect(report.threads.every((t) => t.nice === 0)).toBe(true);
  });
});
