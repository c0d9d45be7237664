import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { createFsBodyStore } from "../../shared/adapters/body-store/fs.ts";
import { LEGACY_BODIES_SCHEMA } from "../../shared/adapters/body-store/legacy-bodies.ts";
import { describeBodyStoreContract } from "./body-store-contract.ts";

async function ids(list: AsyncIterable<string>) {
  const out: string[] = [];
  for await (const id of list) out.push(id);
  return out;
}

describeBodyStoreContract("fs (spool directory)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "zr-spool-"));
  const store = await createFsBodyStore({ dir });
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe("fs body store after a crash", () => {
  it("removes the temp files of dead writers when it opens, and keeps a live writer's", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-spool-"));
    try {
      mkdirSync(join(dir, "ab"));
      // pid 2^22 + 1 is above Linux's pid_max limit, so no process has it.
      const dead = join(dir, "ab", `0000000000ab.eml.${2 ** 22 + 1}.tmp`);
      const live = join(dir, "ab", `0000000001ab.eml.${process.pid}.tmp`);
      writeFileSync(dead, "half a message");
      writeFileSync(live, "being written");
      const store = await createFsBodyStore({ dir });
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(live)).toBe(true);
      expect(await ids(store.list())).toEqual([]);
      // A temp file an hour old has no writer, whatever its pid says (GC's listing removes it).
      const old = (Date.now() - 2 * 3600_000) / 1000;
      utimesSync(live, old, old);
      await ids(store.list());
      expect(existsSync(live)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("fs body store spool buckets", () => {
  it("reads from disk what an earlier store wrote (the copy kept in memory is only a shortcut)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-spool-"));
    try {
      const first = await createFsBodyStore({ dir });
      const small = "Subject: s\r\n\r\nsmall\r\n";
      const large = `Subject: l\r\n\r\n${"x".repeat(300 * 1024)}\r\n`;
      await first.put("0000000000aaa1", Readable.from([Buffer.from(small)]));
      await first.put("0000000000aaa2", Readable.from([Buffer.from(large)]));
      expect(await text(await first.get("0000000000aaa1"))).toBe(small);
      await first.close();
      const second = await createFsBodyStore({ dir });
      expect(await text(await second.get("0000000000aaa1"))).toBe(small);
      expect(await text(await second.get("0000000000aaa2"))).toBe(large);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("makes a bucket directory again when it was removed while the store is open", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-spool-"));
    try {
      const store = await createFsBodyStore({ dir });
      // Over 256 KiB: bodies of their own files (smaller ones go to the body log, see below).
      const big = (s: string) => s.repeat(300 * 1024);
      await store.put("0000000000aaab", Readable.from([Buffer.from(big("1"))]));
      rmSync(join(dir, "ab"), { recursive: true }); // an operator's cleanup behind the relay's back
      await store.put("0000000001aaab", Readable.from([Buffer.from(big("2"))]));
      expect(await text(await store.get("0000000001aaab"))).toBe(big("2"));
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("fs body store: small bodies in the body log", () => {
  const files = (dir: string) =>
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.parentPath !== join(dir, "log"))
      .map((e) => e.name);

  it("keeps bodies up to 256 KiB in the body log and larger ones in files, both durable, listed and deleted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-spool-"));
    try {
      const store = await createFsBodyStore({ dir });
      const small = `Subject: s\r\n\r\n${"s".repeat(256 * 1024 - 14)}`; // exactly 256 KiB
      const large = `${small}!`; // one byte more
      expect(Buffer.byteLength(small)).toBe(256 * 1024);
      // Chunked as a socket would deliver it: the decision is made on the whole body, not per chunk.
      const chunks = (s: string) => {
        const all = Buffer.from(s);
        const parts: Buffer[] = [];
        for (let at = 0; at < all.length; at += 16_384) parts.push(all.subarray(at, at + 16_384));
        return Readable.from(parts);
      };
      expect(await store.put("0000000000bb01", chunks(small))).toEqual({ size: small.length });
      expect(await store.put("0000000000bb02", chunks(large))).toEqual({ size: large.length });
      expect(await store.put("0000000000bb03", Readable.from([]))).toEqual({ size: 0 });
      expect(files(dir)).toEqual(["0000000000bb02.eml"]);
      await store.close();

      const again = await createFsBodyStore({ dir });
      expect(await text(await again.get("0000000000bb01"))).toBe(small);
      expect(await text(await again.get("0000000000bb02"))).toBe(large);
      expect(await text(await again.get("0000000000bb03"))).toBe("");
      expect((await ids(again.list())).sort()).toEqual(["0000000000bb01", "0000000000bb02", "0000000000bb03"]);
      for (const id of ["0000000000bb01", "0000000000bb02", "0000000000bb03"]) await again.delete(id);
      expect(await ids(again.list())).toEqual([]);
      await expect(again.get("0000000000bb01")).rejects.toThrow();
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("commits puts that arrive together in one group, each durable and readable", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-spool-"));
    try {
      const store = await createFsBodyStore({ dir });
      const idsOf = Array.from({ length: 50 }, (_, i) => `0000000000cc${String(i).padStart(2, "0")}`);
      await Promise.all(idsOf.map((id) => store.put(id, Readable.from([Buffer.from(`body ${id}`)]))));
      await store.close();
      const again = await createFsBodyStore({ dir });
      for (const id of idsOf) expect(await text(await again.get(id))).toBe(`body ${id}`);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("still reads, lists and deletes the small bodies of a spool written before the body log (bodies.sqlite)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-spool-"));
    try {
      const old = new Database(join(dir, "bodies.sqlite"));
      old.pragma("journal_mode = WAL");
      old.exec(LEGACY_BODIES_SCHEMA);
      old
        .prepare("INSERT INTO bodies (id, data) VALUES (?, ?)")
        .run("0000000000dd01", Buffer.from("Subject: old\r\n\r\nqueued before the upgrade\r\n"));
      old.close();
      const store = await createFsBodyStore({ dir });
      await store.put("0000000000dd02", Readable.from([Buffer.from("Subject: new\r\n\r\nnew\r\n")]));
      expect(await text(await store.get("0000000000dd01"))).toContain("queued before the upgrade");
      expect((await ids(store.list())).sort()).toEqual(["0000000000dd01", "0000000000dd02"]);
      await store.delete("0000000000dd01");
      await expect(store.get("0000000000dd01")).rejects.toThrow();
      expect(await ids(store.list())).toEqual(["0000000000dd02"]);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a second store on a spool that a live one holds", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zr-spool-"));
    try {
      const store = await createFsBodyStore({ dir });
      await expect(createFsBodyStore({ dir })).rejects.toThrow(/in use by process/);
      await store.close();
      await (await createFsBodyStore({ dir })).close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
