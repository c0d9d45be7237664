import { describe, expect, it } from "vitest";
import { decodeEncodedWords, formatRfc5322Date, parseHeaderBlock } from "./headers.ts";

describe("headers", () => {
  it("unfolds folded header lines", () => {
    expect(parseHeaderBlock("Subject: a\r\n b\r\nTo: x@y.test\r\n")).toEqual([
      { key: "subject", value: "a b" },
      { key: "to", value: "x@y.test" },
    ]);
  });
  it("decodes RFC 2047 encoded words in B and Q forms, joining adjacent words", () => {
    expect(decodeEncodedWords("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=")).toBe("Grüße");
    expect(decodeEncodedWords("=?utf-8?B?0J/RgNC40LLQtdGC?= =?utf-8?Q?_world?=")).toBe("Привет world");
    expect(decodeEncodedWords("=?iso-8859-1?Q?caf=E9?= ok")).toBe("café ok");
    expect(decodeEncodedWords("plain")).toBe("plain");
  });
  it("formats dates as RFC 5322 in UTC", () => {
    expect(formatRfc5322Date(new Date(Date.UTC(2026, 0, 5, 7, 8, 9)))).toBe("Mon, 5 Jan 2026 07:08:09 +0000");
  });
});
