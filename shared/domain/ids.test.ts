import { describe, expect, it } from "vitest";
import { newId } from "./ids.ts";

describe("newId", () => {
  it("is time-ordered and 25 chars of base36 time and hex randomness", () => {
    const a = newId(1_000);
    const b = newId(2_000);
    expect(a).toMatch(/^[0-9a-z]{9}[0-9a-f]{16}$/);
    expect(a < b).toBe(true);
  });

  it("never repeats, also across refills of its random pool", () => {
    const ids = new Set(Array.from({ length: 5000 }, () => newId(42)));
    expect(ids.size).toBe(5000);
  });
});
