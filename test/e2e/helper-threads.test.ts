// `zonerelay start` lowers the CPU priority of its helper threads (helperThreads.nice) and leaves the event loop's
// thread alone: read from outside, in /proc, like an operator with `ps -L -o tid,ni` would.
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

describe.runIf(process.platform === "linux")("helper threads", () => {
  it("run at helperThreads.nice while the event loop's thread keeps its priority", async () => {
    world = await startProcessWorld({ relay: { helperThreads: { nice: 9 } } });
    const relay = await world.spawn();
    // The listeners open a moment before `start` lowers the threads: wait for it (bounded).
    let nice = niceByThread(relay.pid);
    for (let i = 0; i < 50 && [...nice.values()].every((n) => n === 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      nice = niceByThread(relay.pid);
    }
    expect(nice.get(relay.pid)).toBe(0);
    const helpers = [...nice].filter(([tid]) => tid !== relay.pid).map(([, n]) => n);
    expect(helpers.length).toBeGreaterThanOrEqual(6); // libuv's pool, V8's platform threads, the queue's worker
    expect(helpers).toEqual(helpers.map(() => 9));
  });

  it("are left alone with 0", async () => {
    world = await startProcessWorld({ relay: { helperThreads: { nice: 0 } } });
    const relay = await world.spawn();
    expect([...niceByThread(relay.pid).values()].every((n) => n === 0)).toBe(true);
  });
});
