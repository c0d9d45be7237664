import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../test/support/seeded-random.ts";
import { CrlfNormalizer, onlyCrlfLineEnds } from "./line-endings.ts";

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

describe("onlyCrlfLineEnds", () => {
  /** The byte-by-byte definition it must agree with. */
  const reference = (b: Buffer) =>
    b.every((byte, i) => (byte === 0x0a ? i > 0 && b[i - 1] === 0x0d : byte !== 0x0d || b[i + 1] === 0x0a));

  it("accepts CRLF line ends only", () => {
    for (const [input, expected] of [
      ["", true],
      ["abc", true],
      ["a\r\nb\r\n", true],
      ["\r\n\r\n", true],
      ["\n", false],
      ["a\r", false],
      ["\ra", false],
      ["a\n\r\n", false],
      ["a\r\r\n", false],
      ["a\r\nb\nc", false],
    ] as const) {
      expect(onlyCrlfLineEnds(Buffer.from(input)), JSON.stringify(input)).toBe(expected);
    }
  });

  it("agrees with the byte-by-byte definition on random input", () => {
    const random = seededRandom(5);
    const alphabet = ["a", "\r", "\n", "\r\n", "\r\n", "xy"];
    for (let round = 0; round < 2000; round++) {
      let s = "";
      for (let i = Math.floor(random() * 12); i > 0; i--) s += alphabet[Math.floor(random() * alphabet.length)];
      const b = Buffer.from(s);
      expect(onlyCrlfLineEnds(b), JSON.stringify(s)).toBe(reference(b));
    }
  });
});
