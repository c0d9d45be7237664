// The UploadStore contract: what every adapter promises (shared/ports/upload-store.ts), run unchanged per adapter.
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { UploadStore, UploadTarget } from "../../shared/ports/upload-store.ts";

export interface UploadStoreFixture {
  store: UploadStore;
  /** Sends the bytes as a client would (an HTTP PUT, or the API's own route handing them to `accept`). */
  put(target: UploadTarget, body: string): Promise<void>;
  close(): Promise<void>;
}

const MESSAGE = "From: a@example.test\r\nSubject: staged\r\n\r\nbody\r\n";

export function describeUploadStoreContract(name: string, open: () => Promise<UploadStoreFixture>) {
  describe(`UploadStore contract: ${name}`, () => {
    let fx: UploadStoreFixture;
    beforeEach(async () => {
      fx = await open();
    });
    afterEach(() => fx.close());

    const create = (owner = "app", size?: number) =>
      fx.store.create({
        owner,
        contentType: "message/rfc822",
        maxSize: 1_000_000,
        baseUrl: "http://api.test",
        ...(size === undefined ? {} : { size }),
      });

    it("hands out an unguessable id and a PUT target that expires; what is PUT opens for its owner", async () => {
      const a = await create();
      const b = await create();
      expect(a.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(a.id).not.toBe(b.id);
      expect(a.method).toBe("PUT");
      expect(a.expiresAt).toBeGreaterThan(Date.now());
      await fx.put(a, MESSAGE);
      const opened = await fx.store.open("app", a.id);
      expect(opened.size).toBe(Buffer.byteLength(MESSAGE));
      expect(await text(opened.body)).toBe(MESSAGE);
    });

    it("takes an announced size exactly", async () => {
      const target = await create("app", Buffer.byteLength(MESSAGE));
      await fx.put(target, MESSAGE);
      expect(await text((await fx.store.open("app", target.id)).body)).toBe(MESSAGE);
    });

    it("opens nothing for another owner, an unknown id, a malformed id, or before the PUT (ENOENT)", async () => {
      const target = await create("app");
      await expect(fx.store.open("app", target.id)).rejects.toMatchObject({ code: "ENOENT" });
      await fx.put(target, MESSAGE);
      await expect(fx.store.open("other", target.id)).rejects.toMatchObject({ code: "ENOENT" });
      await expect(fx.store.open("app", "A".repeat(22))).rejects.toMatchObject({ code: "ENOENT" });
      await expect(fx.store.open("app", "../../etc/passwd")).rejects.toMatchObject({ code: "ENOENT" });
    });

    it("deletes idempotently", async () => {
      const target = await create();
      await fx.put(target, MESSAGE);
      await fx.store.delete("app", target.id);
      await fx.store.delete("app", target.id);
      await expect(fx.store.open("app", target.id)).rejects.toMatchObject({ code: "ENOENT" });
      expect(fx.store.unhealthyReason()).toBeUndefined();
    });
  });
}

/** The query of a target URL, for stores whose URL the API serves itself. */
export function acceptVia(store: UploadStore) {
  return async (target: UploadTarget, body: string) => {
    const url = new URL(target.url);
    const id = url.pathname.split("/").pop()!;
    await store.accept!(id, Object.fromEntries(url.searchParams), Readable.from([Buffer.from(body)]));
  };
}
