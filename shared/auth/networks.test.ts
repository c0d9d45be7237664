import { describe, expect, it } from "vitest";
import { createNetworkList, isLoopback } from "./networks.ts";

describe("network allow-lists", () => {
  it("matches IPv4, IPv4-mapped IPv6 and IPv6 networks", () => {
    const allowed = createNetworkList(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]);
    expect(allowed("10.1.2.3")).toBe(true);
    expect(allowed("::ffff:10.1.2.3")).toBe(true);
    expect(allowed("2001:db8::1")).toBe(true);
    expect(allowed("192.0.2.7")).toBe(true);
    expect(allowed("192.0.2.8")).toBe(false);
    expect(allowed("11.0.0.1")).toBe(false);
  });
  it("gives the same answers when asked again, also past the number of addresses it keeps", () => {
    const allowed = createNetworkList(["10.0.0.0/8"]);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5000; i++) {
        expect(allowed(`10.0.${i >> 8}.${i & 255}`)).toBe(true);
        expect(allowed(`11.0.${i >> 8}.${i & 255}`)).toBe(false);
      }
    }
  });
  it("knows loopback", () => {
    expect(isLoopback("127.0.0.5")).toBe(true);
    expect(isLoopback("::1")).toBe(true);
    expect(isLoopback("0.0.0.0")).toBe(false);
  });
  it("refuses what is not a network", () => {
    expect(() => createNetworkList(["office"])).toThrow(/"office" is not an IP network/);
  });
});
