import { describe, expect, it } from "vitest";
import { createMemoryCoordinator } from "../adapters/coordinator/memory.ts";
import type { Coordinator } from "../ports/coordinator.ts";
import { clientNetwork, createAuthThrottle } from "./auth-throttle.ts";

const SETTINGS = { ipFailures: 5, userFailures: 3, window: 900_000, lockout: 60_000, maxLockout: 600_000 };

function setup() {
  let t = Date.UTC(2026, 0, 1, 0, 0, 1);
  const clock = { now: () => t };
  const coordinator = createMemoryCoordinator({ clock });
  const throttle = createAuthThrottle(coordinator, SETTINGS, { now: clock.now });
  return { throttle, advance: (ms: number) => (t += ms) };
}

describe("auth throttle", () => {
  it("locks a username out after its failures, from any address, and lets it try again after the lockout", async () => {
    const { throttle, advance } = setup();
    for (let i = 0; i < 2; i++) expect(await throttle.failed({ ip: `10.0.0.${i}`, user: "ann" })).toBe(0);
    expect(await throttle.lockedFor({ ip: "10.0.0.9", user: "ann" })).toBe(0);
    expect(await throttle.failed({ ip: "10.0.0.3", user: "Ann" })).toBe(60_000);
    expect(await throttle.lockedFor({ ip: "10.0.0.9", user: "ANN" })).toBe(60_000);
    // Other users from those addresses are not locked.
    expect(await throttle.lockedFor({ ip: "10.0.0.9", user: "bob" })).toBe(0);
    advance(60_001);
    expect(await throttle.lockedFor({ ip: "10.0.0.9", user: "ann" })).toBe(0);
  });

  it("locks a client address out after its failures, whatever usernames it tries", async () => {
    const { throttle } = setup();
    for (let i = 0; i < 4; i++) expect(await throttle.failed({ ip: "192.0.2.7", user: `u${i}` })).toBe(0);
    expect(await throttle.failed({ ip: "::ffff:192.0.2.7", user: "u9" })).toBe(60_000);
    expect(await throttle.lockedFor({ ip: "192.0.2.7", user: "someone-else" })).toBe(60_000);
    expect(await throttle.lockedFor({ ip: "192.0.2.8" })).toBe(0);
  });

  it("doubles each further lockout of the day, up to the maximum", async () => {
    const { throttle, advance } = setup();
    const lockouts: number[] = [];
    for (let round = 0; round < 6; round++) {
      let locked = 0;
      while (!locked) locked = await throttle.failed({ user: "target" });
      lockouts.push(locked);
      advance(locked + 1);
    }
    expect(lockouts).toEqual([60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
  });

  it("counts an IPv6 client by its /64, so rotating addresses in it does not help", async () => {
    expect(clientNetwork("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(clientNetwork("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(clientNetwork("::1")).toBe("0:0:0:0::/64");
    expect(clientNetwork("::ffff:10.1.2.3")).toBe("10.1.2.3");
    const { throttle } = setup();
    for (let i = 1; i <= 5; i++) await throttle.failed({ ip: `2001:db8:1:2::${i}` });
    expect(await throttle.lockedFor({ ip: "2001:db8:1:2:ffff::77" })).toBe(60_000);
    expect(await throttle.lockedFor({ ip: "2001:db8:1:3::1" })).toBe(0);
  });

  it("lets logins through (the password still decides) while the coordinator is down", async () => {
    const broken = new Proxy({} as Coordinator, {
      get: () => () => Promise.reject(new Error("ECONNREFUSED")),
    });
    const errors: unknown[] = [];
    const throttle = createAuthThrottle(broken, SETTINGS, { onError: (e) => errors.push(e) });
    expect(await throttle.lockedFor({ ip: "10.0.0.1", user: "ann" })).toBe(0);
    expect(await throttle.failed({ ip: "10.0.0.1", user: "ann" })).toBe(0);
    expect(errors).toHaveLength(2);
  });
});
