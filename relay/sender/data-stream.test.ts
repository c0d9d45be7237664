import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
// nodemailer does not export its DATA encoder: the file the relay's copy of nodemailer uses, by path.
import DataStream from "../../node_modules/nodemailer/dist/esm/smtp-connection/data-stream.js";
import { passCleanChunks } from "./data-stream.ts";

async function encode(chunks: Buffer[], fast: boolean): Promise<Buffer> {
  const stream = new DataStream();
  if (fast) passCleanChunks(stream as unknown as Parameters<typeof passCleanChunks>[0]);
  return buffer(Readable.from(chunks, { objectMode: false }).pipe(stream));
}

describe("DATA encoding with clean chunks passed as they are", () => {
  it("writes the same bytes as nodemailer's encoder for any input cut anywhere", async () => {
    let seed = 11;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pieces = ["line", "\r\n", ".", "\r\n.", "\n", "\r", "..", "x".repeat(70), "\r\n\r\n"];
    for (let round = 0; round < 300; round++) {
      const body = Buffer.from(Array.from({ length: 50 }, () => pieces[Math.floor(random() * pieces.length)]).join(""));
      const chunks: Buffer[] = [];
      for (let i = 0; i < body.length; ) {
        const n = 1 + Math.floor(random() * 200);
        chunks.push(body.subarray(i, i + n));
        i += n;
      }
      expect((await encode(chunks, true)).toString("latin1")).toBe((await encode(chunks, false)).toString("latin1"));
    }
  });

  it("stuffs a dot at the start of a chunk that starts a line", async () => {
    const out = await encode([Buffer.from("a\r\n"), Buffer.from(".hidden\r\n")], true);
    expect(out.toString()).toBe("a\r\n..hidden\r\n.\r\n");
  });
});
