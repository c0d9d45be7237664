import { describe, expect, it } from "vitest";
import { createRejecter, REPLIES, SinkCounts, seededRandom } from "./sink-policy.ts";

describe("smart sink rejecter", () => {
  it("refuses about the configured shares of recipients, with the realistic replies", () => {
    const reject = createRejecter({ temp: 0.05, perm: 0.01, at: "rcpt" }, seededRandom(7));
    const seen = { temp: 0, perm: 0, ok: 0 };
    for (let i = 0; i < 20_000; i++) {
      const r = reject("rcpt", false);
      if (r === REPLIES.rcpt.temp) seen.temp++;
      else if (r === REPLIES.rcpt.perm) seen.perm++;
      else seen.ok++;
    }
    expect(seen.temp / 20_000).toBeCloseTo(0.05, 2);
    expect(seen.perm / 20_000).toBeCloseTo(0.01, 2);
    expect(REPLIES.rcpt.temp).toEqual({ code: 451, text: "4.7.1 Try again later" });
    expect(REPLIES.rcpt.perm).toEqual({ code: 550, text: "5.1.1 User unknown" });
  });

  it("repeats the same decisions for the same seed", () => {
    const run = () => {
      const reject = createRejecter({ temp: 0.3, perm: 0.2, at: "data" }, seededRandom(42));
      return Array.from({ length: 50 }, () => reject("data", false)?.code ?? 250);
    };
    expect(run()).toEqual(run());
  });

  it("decides only at the configured stage and never refuses the null sender (DSNs)", () => {
    const reject = createRejecter({ temp: 0, perm: 1, at: "data" }, seededRandom(1));
    expect(reject("rcpt", false)).toBeUndefined();
    expect(reject("data", true)).toBeUndefined();
    expect(reject("data", false)).toEqual({ code: 554, text: "5.7.1 Message rejected" });
  });

  it("accepts everything when both shares are 0, and refuses shares that add up to more than 1", () => {
    const reject = createRejecter({ temp: 0, perm: 0, at: "rcpt" }, () => 0);
    expect(reject("rcpt", false)).toBeUndefined();
    expect(() => createRejecter({ temp: 0.6, perm: 0.5, at: "rcpt" }, Math.random)).toThrow(RangeError);
  });
});

describe("smart sink counts", () => {
  it("settles a recipient once it is accepted or refused permanently, not on a temporary refusal or a DSN; counts plain-text transactions", () => {
    const c = new SinkCounts();
    c.accepted("127.0.0.1", 3, 100, false);
    c.refused(REPLIES.rcpt.temp, 1);
    c.refused(REPLIES.data.perm, 2);
    c.accepted("127.0.0.3", 1, 50, true, true);
    expect(c.settled).toBe(5);
    expect(c.line()).toBe(
      "sess=0 tls=0 msgs=1 rcpts=3 bytes=150 dsn=1 plain=1 rej4=1 rej5=2 settled=5 by_addr=127.0.0.1:1,127.0.0.3:1",
    );
  });

  it("wakes a waiter when settled reaches its target, and not a cancelled one", async () => {
    const c = new SinkCounts();
    const wait = c.waitSettled(2);
    const cancelled = c.waitSettled(1);
    cancelled.cancel();
    let woken = false;
    wait.at.then(() => (woken = true));
    cancelled.at.then(() => expect.unreachable());
    c.accepted("127.0.0.1", 1, 10, false);
    await Promise.resolve();
    expect(woken).toBe(false);
    c.refused(REPLIES.rcpt.perm, 1);
    expect(await wait.at).toBeGreaterThan(0);
    await Promise.resolve();
  });
});
