// The idle-connection cache: reuse while fresh, and a lane's end closes one idle connection of its domain, not all.
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionCache } from "./connection-cache.ts";
import type { SmtpClient } from "./smtp-client.ts";

/** Just what the cache reads of a client, and whether it was closed. */
function client(lastUsedAt: number) {
  const c = { usable: true, uses: 1, lastUsedAt, closed: false, close: () => (c.closed = true) };
  return c as unknown as SmtpClient & { closed: boolean };
}

describe("ConnectionCache", () => {
  let cache: ConnectionCache;
  afterEach(() => cache.closeAll());

  it("hands back the connection put last, and none once it is used up", () => {
    cache = new ConnectionCache({ ttl: 60_000, reuseCount: 2 });
    const [a, b] = [client(Date.now()), client(Date.now())];
    cache.put("x.test|mx|*|opportunistic", a);
    cache.put("x.test|mx|*|opportunistic", b);
    expect(cache.take("x.test|mx|*|opportunistic")).toBe(b);
    a.uses = 2;
    expect(cache.take("x.test|mx|*|opportunistic")).toBeUndefined();
    expect(a.closed).toBe(true);
  });

  it("closes one idle connection of a domain, the one that waited longest, and keeps the others", () => {
    cache = new ConnectionCache({ ttl: 60_000, reuseCount: 100 });
    const now = Date.now();
    const older = client(now - 3000);
    const [oldest, newest, other] = [client(now - 5000), client(now), client(now - 9000)];
    cache.put("x.test|mx1|127.0.0.2|opportunistic", older);
    cache.put("x.test|mx1|127.0.0.2|opportunistic", newest);
    cache.put("x.test|mx2|127.0.0.3|opportunistic", oldest);
    cache.put("y.test|mx1|127.0.0.2|opportunistic", other);

    expect(cache.closeOneWhere("x.test|")).toBe(true);
    expect([oldest.closed, older.closed, newest.closed, other.closed]).toEqual([true, false, false, false]);
    expect(cache.closeOneWhere("x.test|")).toBe(true);
    expect(older.closed).toBe(true);
    // What is left of the domain is still handed out; another domain's connection is never touched.
    expect(cache.take("x.test|mx1|127.0.0.2|opportunistic")).toBe(newest);
    expect(cache.closeOneWhere("x.test|")).toBe(false);
    expect(other.closed).toBe(false);
  });
});
