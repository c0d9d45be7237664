import { describe, expect, it } from "vitest";
import { hashApiKey, hashPassword, sameHash, verifyPassword } from "./password.ts";

describe("password and key hashing", () => {
  it("verifies the right password and refuses a wrong one", async () => {
    const stored = await hashPassword("correct horse");
    expect(stored).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(await verifyPassword("correct horse", stored)).toBe(true);
    expect(await verifyPassword("wrong", stored)).toBe(false);
    expect(await verifyPassword("correct horse", "plain-text")).toBe(false);
  });
  it("hashes API keys as sha256 and compares them", () => {
    expect(hashApiKey("k")).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(sameHash(hashApiKey("k"), hashApiKey("k"))).toBe(true);
    expect(sameHash(hashApiKey("k"), hashApiKey("j"))).toBe(false);
  });
});
