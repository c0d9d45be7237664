import { describe, expect, it } from "vitest";
import { mxMatches, parseStsPolicy, parseStsRecord } from "./mta-sts.ts";

describe("MTA-STS TXT record (RFC 8461 §3.1)", () => {
  it("reads the id of the one v=STSv1 record and ignores other TXT records", () => {
    expect(parseStsRecord(["v=spf1 -all", "v=STSv1; id=20160831085700Z"])).toEqual({ id: "20160831085700Z" });
    expect(parseStsRecord(["v=STSv1;id=abc;ext=1"])).toEqual({ id: "abc" });
  });

  it("has no policy with zero or two records, a missing or malformed id", () => {
    expect(parseStsRecord([])).toBeUndefined();
    expect(parseStsRecord(["v=STSv1; id=a", "v=STSv1; id=b"])).toBeUndefined();
    expect(parseStsRecord(["v=STSv1"])).toBeUndefined();
    expect(parseStsRecord(["v=STSv1; id=not-alnum"])).toBeUndefined();
    expect(parseStsRecord(["v=STSv10; id=a"])).toBeUndefined();
  });
});

describe("MTA-STS policy file (RFC 8461 §3.2)", () => {
  it("parses mode, mx patterns and max_age, keeping the lines for TLS-RPT", () => {
    const p = parseStsPolicy(
      "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
    );
    expect(p).toMatchObject({ mode: "enforce", mx: ["mail.example.com", "*.example.net"], maxAge: 604800 });
    expect(p.lines).toEqual([
      "version: STSv1",
      "mode: enforce",
      "mx: mail.example.com",
      "mx: *.example.net",
      "max_age: 604800",
    ]);
  });

  it("refuses a wrong version, an unknown mode, a bad max_age, and enforce without mx", () => {
    expect(() => parseStsPolicy("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1")).toThrow(/version/);
    expect(() => parseStsPolicy("version: STSv1\nmode: strict\nmx: a\nmax_age: 1")).toThrow(/mode/);
    expect(() => parseStsPolicy("version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999999")).toThrow(/max_age/);
    expect(() => parseStsPolicy("version: STSv1\nmode: enforce\nmax_age: 1")).toThrow(/mx/);
    expect(parseStsPolicy("version: STSv1\nmode: none\nmax_age: 1").mode).toBe("none");
  });
});

describe("MX pattern matching (RFC 8461 §4.1)", () => {
  it("matches names exactly, case-insensitively, with or without the trailing dot", () => {
    expect(mxMatches("mail.example.com", "MAIL.example.com.")).toBe(true);
    expect(mxMatches("mail.example.com", "mail2.example.com")).toBe(false);
  });

  it("lets a wildcard stand for exactly one left-most label", () => {
    expect(mxMatches("*.example.com", "mx1.example.com")).toBe(true);
    expect(mxMatches("*.example.com", "a.b.example.com")).toBe(false);
    expect(mxMatches("*.example.com", "example.com")).toBe(false);
    expect(mxMatches("*.example.com", "mx1.badexample.com")).toBe(false);
  });
});
