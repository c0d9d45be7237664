import { describe, expect, it } from "vitest";
import { windowFor } from "./tls-rpt.ts";
import { parseTlsRptRecord } from "./tls-rpt-send.ts";

const DAY = 86_400_000;

describe("TLS-RPT counter windows", () => {
  it("keeps each day's counters readable on the two following days, and gone within weeks", () => {
    let day = Date.parse("2026-01-01T00:00:00Z");
    for (let i = 0; i < 2000; i++, day += DAY) {
      const w = windowFor(new Date(day).toISOString().slice(0, 10));
      // Windows are aligned to the epoch: day, day+1 and day+2 fall into the same one.
      expect(Math.floor(day / w)).toBe(Math.floor((day + 2 * DAY) / w));
      expect(w).toBeLessThanOrEqual(30 * DAY);
    }
  });
});

describe("_smtp._tls record (RFC 8460 §3)", () => {
  it("reads the mailto: and https: rua URIs of the TLSRPTv1 record", () => {
    expect(parseTlsRptRecord(["v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/tlsrpt"])).toEqual([
      "mailto:tls@example.com",
      "https://r.example.com/tlsrpt",
    ]);
    expect(parseTlsRptRecord(["v=spf1 -all", "v=TLSRPTv1;rua=mailto:a@b.example"])).toEqual(["mailto:a@b.example"]);
  });

  it("wants no report without the record, without rua, or with other schemes", () => {
    expect(parseTlsRptRecord([])).toEqual([]);
    expect(parseTlsRptRecord(["v=TLSRPTv1"])).toEqual([]);
    expect(parseTlsRptRecord(["v=TLSRPTv1; rua=http://insecure.example/"])).toEqual([]);
  });
});
