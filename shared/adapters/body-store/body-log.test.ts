import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type BodyLogOptions, openBodyLog } from "./body-log.ts";
import { liveIds, segmentName } from "./body-log-format.ts";

const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "zr-log-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const segments = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".seg"));
const body = (id: string, size = 100) => Buffer.from(`${id}:`.padEnd(size, "x"));

describe("body log", () => {
  it("keeps what it acknowledged across a reopen, and what was deleted stays deleted", async () => {
    const dir = freshDir();
    const log = await openBodyLog(dir);
    const ids = Array.from({ length: 50 }, (_, i) => `0000000000aa${String(i).padStart(2, "0")}`);
    // Puts of one turn share a write and an fdatasync; each still resolves only once durable.
    await Promise.all(ids.map((id) => log.put(id, body(id))));
    expect(log.delete(ids[0]!)).toBe(true);
    expect(log.delete(ids[0]!)).toBe(false);
    expect(await log.get(ids[0]!)).toBeUndefined();
    expect((await log.get(ids[1]!))?.toString()).toBe(body(ids[1]!).toString());
    await log.close();

    const again = await openBodyLog(dir);
    expect(again.ids().sort()).toEqual(ids.slice(1));
    for (const id of ids.slice(1)) expect((await again.get(id))?.equals(body(id))).toBe(true);
    expect(liveIds(dir)).toEqual(ids.slice(1));
    await again.close();
  });

  it("gives the last put of an id, also after a reopen", async () => {
    const dir = freshDir();
    const log = await openBodyLog(dir);
    await log.put("0000000000ab01", Buffer.from("first"));
    await log.put("0000000000ab01", Buffer.from("second"));
    expect((await log.get("0000000000ab01"))?.toString()).toBe("second");
    await log.put("0000000000ab02", Buffer.alloc(0));
    expect((await log.get("0000000000ab02"))?.length).toBe(0);
    await log.close();
    const again = await openBodyLog(dir);
    expect((await again.get("0000000000ab01"))?.toString()).toBe("second");
    expect(again.ids().sort()).toEqual(["0000000000ab01", "0000000000ab02"]);
    await again.close();
  });

  it("stops at a torn tail (a crash before the fdatasync) and appends after it in a new segment", async () => {
    const dir = freshDir();
    const log = await openBodyLog(dir);
    await log.put("0000000000ac01", body("0000000000ac01", 5000));
    await log.put("0000000000ac02", body("0000000000ac02", 5000));
    await log.close();
    const [first] = segments(dir);
    const whole = readFileSync(join(dir, first!));
    // A crash mid-append: the start of a record whose data never made it, then zeros as delayed allocation leaves.
    const record = whole.subarray(0, 5000);
    appendFileSync(join(dir, first!), Buffer.concat([record.subarray(0, 300), Buffer.alloc(4096)]));

    const again = await openBodyLog(dir);
    expect(again.ids().sort()).toEqual(["0000000000ac01", "0000000000ac02"]);
    // The torn record repeats the first one's header: it must not replace the whole copy.
    expect((await again.get("0000000000ac01"))?.equals(body("0000000000ac01", 5000))).toBe(true);
    expect((await again.get("0000000000ac02"))?.equals(body("0000000000ac02", 5000))).toBe(true);
    await again.put("0000000000ac03", Buffer.from("after the crash"));
    await again.close();
    expect(segments(dir).length).toBe(2);

    const third = await openBodyLog(dir);
    expect((await third.get("0000000000ac03"))?.toString()).toBe("after the crash");
    expect(third.ids().length).toBe(3);
    await third.close();
  });

  it("reports a body whose bytes changed on disk instead of sending them", async () => {
    const dir = freshDir();
    const log = await openBodyLog(dir);
    await log.put("0000000000ad01", body("0000000000ad01", 1000));
    await log.close();
    const path = join(dir, segments(dir)[0]!);
    const bytes = readFileSync(path);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 0xff, bytes.length - 10);
    writeFileSync(path, bytes);
    const again = await openBodyLog(dir);
    await expect(again.get("0000000000ad01")).rejects.toMatchObject({ code: "EBADMSG" });
    await again.close();
  });

  it("unlinks a closed segment once its bodies are gone, and compacts one that is mostly gone", async () => {
    const dir = freshDir();
    const options: BodyLogOptions = { segmentBytes: 4096, compactBelow: 0.5 };
    const log = await openBodyLog(dir, options);
    const ids = Array.from({ length: 12 }, (_, i) => `0000000000ae${String(i).padStart(2, "0")}`);
    // One at a time: each put is its own group; a segment takes appends until it passes 4 KiB (four 1 KiB bodies).
    for (const id of ids) await log.put(id, body(id, 1000));
    const before = segments(dir);
    expect(before.length).toBe(3);

    // All of the first segment's bodies gone: its file goes.
    for (const id of ids.slice(0, 4)) log.delete(id);
    await until(() => !segments(dir).includes(before[0]!));

    // Three of the second's four gone: below half full, its last body is appended again and the segment goes.
    for (const id of ids.slice(4, 7)) log.delete(id);
    await until(() => !segments(dir).includes(before[1]!));
    expect((await log.get(ids[7]!))?.equals(body(ids[7]!, 1000))).toBe(true);
    await log.close();

    const again = await openBodyLog(dir, options);
    expect(again.ids().sort()).toEqual(ids.slice(7));
    for (const id of ids.slice(7)) expect((await again.get(id))?.equals(body(id, 1000))).toBe(true);
    await again.close();
  });

  it("belongs to one process: a second opener fails while the first has it; a dead owner's lock is taken over", async () => {
    const dir = freshDir();
    const log = await openBodyLog(dir);
    await expect(openBodyLog(dir)).rejects.toThrow(/in use by process/);
    await log.close();
    // pid 2^22 + 1 is above Linux's pid_max limit, so no process has it.
    writeFileSync(join(dir, "owner.pid"), `${2 ** 22 + 1}\n`);
    const again = await openBodyLog(dir);
    expect(readFileSync(join(dir, "owner.pid"), "utf8").trim()).toBe(String(process.pid));
    await again.close();
  });

  it("names segments so that their order is their age", () => {
    expect(segmentName(7)).toBe("0000000007.seg");
    expect(segmentName(12) > segmentName(9)).toBe(true);
  });
});

async function until(check: () => boolean, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
