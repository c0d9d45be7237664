import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.ts";

function capture() {
  const lines: string[] = [];
  const logger = createLogger("trace", { write: (line: string) => lines.push(line) });
  return { logger, text: () => lines.join("") };
}

describe("logger", () => {
  it("censors secret fields of whatever object is logged", () => {
    const { logger, text } = capture();
    logger.info({ password: "pw-1", auth: { user: "u", pass: "pw-2" } }, "login");
    logger.info({ zone: { auth: { user: "relay", pass: "pw-3" } } }, "zone");
    logger.info({ headers: { authorization: "Bearer key-4", cookie: "zr_admin=cookie-5" } }, "request");
    logger.info(
      { dkim: { privateKey: "-----BEGIN PRIVATE KEY-----key-6" }, admin: { sessionSecret: "secret-7" } },
      "c",
    );
    for (const secret of ["pw-1", "pw-2", "pw-3", "key-4", "cookie-5", "key-6", "secret-7"]) {
      expect(text()).not.toContain(secret);
    }
    expect(text()).toContain("(hidden)");
    expect(text()).toContain('"user":"relay"');
  });

  it("cuts credentials out of URLs in error messages and stacks", () => {
    const { logger, text } = capture();
    const err = new Error("connect ECONNREFUSED redis://default:hunter2@10.0.0.5:6379 and mongodb://app:s3cret@db/x");
    logger.error({ err }, "backend down");
    expect(text()).not.toContain("hunter2");
    expect(text()).not.toContain("s3cret");
    expect(text()).toContain("redis://(hidden)@10.0.0.5:6379");
  });
});
