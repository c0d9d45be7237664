// `zonerelay start` lowers the CPU priority of libuv's thread pool (threadPool.nice) and of nothing else: read from
// outside, in /proc, as an operator would with `ps -L -o tid,ni`.
import { readdirSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { type ProcessWorld, startProcessWorld } from "../support/process-world.ts";

let world: ProcessWorld | undefined;
// close() kills the relays the world started, then stops its sink and DNS server.
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** Nice value of each thread of `pid`, by thread id (field 19 of /proc/<pid>/task/<tid>/stat). */
function niceByThread(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // after "pid (comm) "
    out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

describe.runIf(process.platform === "linux")("the thread pool's priority", () => {
  it("is threadPool.nice for libuv's four pool threads; every other thread keeps 0", async () => {
    world = await startProcessWorld({ relay: { threadPool: { nice: 9 } } });
    const relay = await world.spawn();
    // The listeners open a moment before `start` has found the pool threads: wait for it (bounded).
    let nice = niceByThread(relay.pid);
    for (let i = 0; i < 50 && ![...nice.values()].includes(9); i++) {
      await new Promise((r) => setTimeout(r, 100));
      nice = niceByThread(relay.pid);
    }
    const values = [...nice.values()];
    expect(nice.get(relay.pid)).toBe(0);
    expect(values.filter((n) => n === 9)).toHaveLength(4);
    expect(values.filter((n) => n === 0).length).toBe(values.length - 4); // V8's threads, the queue's worker
  });

  it("is left alone with 0", async () => {
    world = await startProcessWorld({ relay: { threadPool: { nice: 0 } } });
    const relay = await world.spawn();
    expect([...niceByThread(relay.pid).values()].every((n) => n === 0)).toBe(true);
  });
});
