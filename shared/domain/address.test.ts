import { describe, expect, it } from "vitest";
import { parseAddress } from "./address.ts";

describe("envelope addresses", () => {
  it("splits local part and domain and lower-cases the domain", () => {
    expect(parseAddress("Alice@Example.TEST")).toEqual({
      local: "Alice",
      domain: "example.test",
      asciiDomain: "example.test",
    });
  });
  it("gives a Unicode domain its A-label form and keeps a Unicode local part (EAI)", () => {
    expect(parseAddress("андрис@уайлддак.орг")).toMatchObject({
      local: "андрис",
      asciiDomain: "xn--80aalaxjd5d.xn--c1avg",
    });
  });
  it.each([
    ["no at sign", "alice"],
    ["empty local part", "@example.test"],
    ["percent hack", "victim%other.test@example.test"],
    ["bang path", "other.test!victim@example.test"],
    ["source route", "@relay.test:victim@other.test"],
    ["quoted local part with @", '"victim@other.test"@example.test'],
    ["IP literal", "victim@[192.0.2.1]"],
    ["IPv6 literal", "victim@[IPv6:::1]"],
    ["bare IPv4 address as domain", "victim@127.0.0.12"],
    ["all-numeric top-level domain", "victim@example.123"],
    ["two at signs", "victim@other.test@example.test"],
    ["CR/LF", "a\r\nRCPT TO:<b@example.test>@example.test"],
    ["single-label domain", "root@localhost"],
    ["overlong local part", `${"a".repeat(65)}@example.test`],
  ])("refuses %s", (_what, address) => {
    expect(parseAddress(address)).toBeUndefined();
  });
});
