// The BodyStore contract: every adapter runs these same tests unchanged.
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BodyStore } from "../../shared/ports/body-store.ts";

export interface BodyStoreFixture {
  store: BodyStore;
  cleanup(): Promise<void>;
}

const newId = () => `b${randomBytes(8).toString("hex")}`;

export function describeBodyStoreContract(name: string, make: () => Promise<BodyStoreFixture>) {
  describe(`BodyStore contract: ${name}`, () => {
    let fx: BodyStoreFixture;
    beforeEach(async () => {
      fx = await make();
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it("stores a streamed body and streams it back byte for byte", async () => {
      const id = newId();
      const body = "Subject: hi\r\n\r\nhello\r\n".repeat(1000);
      expect(await fx.store.put(id, Readable.from([Buffer.from(body)]))).toEqual({ size: Buffer.byteLength(body) });
      expect(await text(await fx.store.get(id))).toBe(body);
    });

    it("stores a body of many chunks larger than memory buffers", async () => {
      const id = newId();
      const chunk = randomBytes(64 * 1024);
      async function* chunks() {
        for (let i = 0; i < 160; i++) yield chunk; // 10 MiB
      }
      expect((await fx.store.put(id, Readable.from(chunks()))).size).toBe(160 * chunk.length);
      let size = 0;
      for await (const part of await fx.store.get(id)) size += (part as Buffer).length;
      expect(size).toBe(160 * chunk.length);
    });

    it("streams a 200 MB body in and out in bounded memory, byte for byte", async () => {
      const id = newId();
      const block = randomBytes(1024 * 1024);
      const blocks = 200;
      const sent = createHash("sha256");
      async function* chunks() {
        for (let i = 0; i < blocks; i++) {
          block.writeUInt32BE(i, 0); // every MiB differs, so a reordered or repeated chunk is caught
          sent.update(block);
          yield Buffer.from(block);
        }
      }
      const rssBefore = process.memoryUsage().rss;
      expect((await fx.store.put(id, Readable.from(chunks()))).size).toBe(blocks * block.length);
      const received = createHash("sha256");
      let size = 0;
      for await (const part of await fx.store.get(id)) {
        received.update(part as Buffer);
        size += (part as Buffer).length;
      }
      expect(size).toBe(blocks * block.length);
      expect(received.digest("hex")).toBe(sent.digest("hex"));
      // Holding the body would take 200 MB; streaming stays far below (generous for GC slack and client buffers).
      expect((process.memoryUsage().rss - rssBefore) / 1024 / 1024).toBeLessThan(150);
      await fx.store.delete(id);
    }, 180_000);

    it("leaves nothing behind when the incoming stream fails", async () => {
      const id = newId();
      const failing = new Readable({ read() {} });
      const put = fx.store.put(id, failing);
      failing.push(Buffer.from("partial"));
      failing.destroy(new Error("client went away"));
      await expect(put).rejects.toThrow(/client went away/);
      await expect(fx.store.get(id)).rejects.toMatchObject({ code: "ENOENT" });
    });

    it("deletes idempotently and lists what it holds", async () => {
      const a = newId();
      const b = newId();
      await fx.store.put(a, Readable.from([Buffer.from("a")]));
      await fx.store.put(b, Readable.from([Buffer.from("b")]));
      const listed: string[] = [];
      for await (const id of fx.store.list()) listed.push(id);
      expect(listed).toEqual(expect.arrayContaining([a, b]));
      await fx.store.delete(a);
      await fx.store.delete(a);
      await expect(fx.store.get(a)).rejects.toMatchObject({ code: "ENOENT" });
      expect(fx.store.unhealthyReason()).toBeUndefined();
    });
  });
}
