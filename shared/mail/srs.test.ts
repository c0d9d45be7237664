import { describe, expect, it } from "vitest";
import { Srs, SrsError } from "./srs.ts";

const DAY = 86_400_000;

describe("SRS", () => {
  const srs = new Srs({ secret: "s3cret", domain: "bounces.relay.test", now: () => 1_000 * DAY });

  it("rewrites a sender to SRS0 at our domain and back (round trip)", () => {
    const rewritten = srs.forward("Ann.Example@shop.example.com");
    expect(rewritten).toMatch(
      /^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=shop\.example\.com=Ann\.Example@bounces\.relay\.test$/,
    );
    expect(srs.isSrs(rewritten)).toBe(true);
    expect(srs.reverse(rewritten)).toBe("Ann.Example@shop.example.com");
    // Receivers may lower-case the local part; the hash still checks.
    expect(srs.reverse(rewritten.toLowerCase())).toBe("ann.example@shop.example.com");
  });

  it("turns another forwarder's SRS0 into SRS1 and reverses it to that forwarder", () => {
    const other = new Srs({ secret: "other", domain: "fwd.example.org", now: () => 1_000 * DAY });
    const first = other.forward("bob@origin.example");
    const second = srs.forward(first);
    expect(second).toMatch(/^SRS1=.{4}=fwd\.example\.org==/);
    const back = srs.reverse(second);
    expect(back).toMatch(/@fwd\.example\.org$/);
    expect(other.reverse(back)).toBe("bob@origin.example");
  });

  it("leaves its own addresses alone", () => {
    const once = srs.forward("x@y.example");
    expect(srs.forward(once)).toBe(once);
  });

  it("refuses forged, foreign and expired addresses", () => {
    const rewritten = srs.forward("ann@shop.example.com");
    const forged = rewritten.replace("ann@", "eve@").replace(/=ann@/, "=eve@");
    expect(() => srs.reverse(forged)).toThrow(SrsError);
    expect(() => srs.reverse("SRS0=abcd=AA=x.example=y@elsewhere.test")).toThrow(/Not an SRS address/);
    const later = new Srs({ secret: "s3cret", domain: "bounces.relay.test", now: () => 1_030 * DAY });
    expect(() => later.reverse(rewritten)).toThrow(/expired/);
  });
});
