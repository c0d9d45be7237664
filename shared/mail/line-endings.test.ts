import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { CrlfNormalizer } from "./line-endings.ts";

const normalise = (chunks: string[]) =>
  text(Readable.from(chunks.map((c) => Buffer.from(c))).pipe(new CrlfNormalizer()));

describe("CRLF normaliser", () => {
  it("keeps CRLF as it is", async () => {
    expect(await normalise(["a\r\nb\r\n"])).toBe("a\r\nb\r\n");
  });
  it("turns bare LF and bare CR into CRLF", async () => {
    expect(await normalise(["a\nb\rc\r\n"])).toBe("a\r\nb\r\nc\r\n");
  });
  it("handles a CRLF split across chunks without doubling it", async () => {
    expect(await normalise(["a\r", "\nb\r", "c"])).toBe("a\r\nb\r\nc");
  });
  it("handles a chunk that ends with CR at the very end of input", async () => {
    expect(await normalise(["a\r"])).toBe("a\r\n");
  });
});
