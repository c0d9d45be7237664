import { describe, expect, it } from "vitest";
import { isBackendUnavailable, MailError, toMailError } from "./errors.ts";

describe("toMailError", () => {
  it.each([
    ["MongoDB down", Object.assign(new Error("Server selection timed out"), { name: "MongoServerSelectionError" })],
    ["Redis down", new Error("Connection is closed.")],
    ["S3 503", Object.assign(new Error("Slow Down"), { name: "SlowDown", $metadata: { httpStatusCode: 503 } })],
    ["SQS unreachable", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9324"), { code: "ECONNREFUSED" })],
    ["wrapped", new Error("enqueue failed", { cause: Object.assign(new Error("x"), { code: "ETIMEDOUT" }) })],
  ])("maps %s to a temporary storage failure (451 / 503)", (_name, err) => {
    const mail = toMailError(err);
    expect(mail.kind).toBe("storage-unavailable");
    expect(mail.smtpCode).toBe(451);
    expect(mail.httpStatus).toBe(503);
    expect(mail.temporary).toBe(true);
  });

  it.each([
    ["disk full", Object.assign(new Error("no space"), { code: "ENOSPC" })],
    ["quota", Object.assign(new Error("quota"), { code: "EDQUOT" })],
    ["SQLite full", new Error("enqueue failed", { cause: Object.assign(new Error("full"), { code: "SQLITE_FULL" }) })],
  ])("maps %s to 452 4.3.1 (insufficient storage, try later) / 503", (_name, err) => {
    const mail = toMailError(err);
    expect(mail.kind).toBe("storage-unavailable");
    expect([mail.smtpCode, mail.enhanced, mail.httpStatus, mail.temporary]).toEqual([452, "4.3.1", 503, true]);
  });

  it("keeps a MailError and never turns an unknown error into a permanent one", () => {
    const loop = new MailError("mail-loop", "loop");
    expect(toMailError(loop)).toBe(loop);
    const unknown = toMailError(new TypeError("undefined is not a function"));
    expect(unknown.kind).toBe("internal");
    expect(unknown.temporary).toBe(true);
    expect(unknown.smtpCode).toBe(451);
  });

  it("does not call a client-side 4xx from S3 an outage", () => {
    expect(isBackendUnavailable({ name: "NoSuchKey", $metadata: { httpStatusCode: 404 } })).toBe(false);
  });
});
