import { describe, expect, it } from "vitest";
import { ReplyReader } from "./smtp-lines.ts";

describe("SMTP reply reader", () => {
  it("joins multi-line replies and hands pipelined replies out in order, across split packets", async () => {
    const r = new ReplyReader();
    const first = r.next();
    r.feed("250-relay.test\r\n250-PIPE");
    r.feed("LINING\r\n250 8BITMIME\r\n250 2.1.0 Ok\r\n55");
    r.feed("0 5.1.1 User unknown\r\n");
    expect(await first).toEqual({ code: 250, text: "250-relay.test\n250-PIPELINING\n250 8BITMIME" });
    expect(await r.next()).toEqual({ code: 250, text: "250 2.1.0 Ok" });
    expect((await r.next()).code).toBe(550);
  });

  it("fails pending and later reads once the connection is gone", async () => {
    const r = new ReplyReader();
    const pending = r.next();
    r.fail(new Error("connection closed"));
    await expect(pending).rejects.toThrow("connection closed");
    await expect(r.next()).rejects.toThrow("connection closed");
  });
});
