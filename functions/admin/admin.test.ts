import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashPassword } from "../../shared/auth/password.ts";
import { createTestApi, type TestApi } from "../test-fixture.ts";

describe("web admin login and session", () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await createTestApi({ admin: { users: { alice: { password: await hashPassword("s3cret!") } } } });
  });
  afterEach(() => api.close());

  const login = (user: string, password: string, headers: Record<string, string> = {}) =>
    api.app.request("http://relay.test/admin/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams({ user, password }).toString(),
    });

  async function session() {
    const res = await login("alice", "s3cret!");
    expect(res.status).toBe(303);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^zr_admin=[^;]+;/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const jar = cookie.split(";")[0]!;
    const page = await (await api.app.request("/admin", { headers: { cookie: jar } })).text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)![1]!;
    return { jar, csrf };
  }

  it("shows the login form, refuses a wrong password and an unknown user alike", async () => {
    const form = await api.app.request("/admin");
    expect(form.status).toBe(200);
    expect(form.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await form.text()).toContain('<label for="password">Password</label>');
    for (const [user, pw] of [
      ["alice", "wrong"],
      ["mallory", "s3cret!"],
    ]) {
      const res = await login(user!, pw!);
      expect(res.status).toBe(401);
      expect(res.headers.get("set-cookie")).toBeNull();
      expect(await res.text()).toContain("Wrong user or password.");
    }
  });

  // Found by schemathesis (test/fuzz/api-schemathesis.test.ts): parseBody threw, and the relay answered 500.
  it("answers 400, not 500, to a login or logout body that is no form", async () => {
    for (const path of ["/admin/login", "/admin/logout"]) {
      const res = await api.app.request(`http://relay.test${path}`, {
        method: "POST",
        headers: { "content-type": "multipart/form-data" }, // no boundary
        body: "user=&password=",
      });
      expect(res.status, path).toBe(400);
      expect(res.headers.get("content-type"), path).toBe("application/problem+json");
    }
  });

  it("refuses a login posted from another site", async () => {
    expect((await login("alice", "s3cret!", { origin: "https://evil.example" })).status).toBe(403);
  });

  it("lets a signed-in admin read the API and change things only with the CSRF token, audited as the admin", async () => {
    const { jar, csrf } = await session();
    const list = await api.app.request("/v1/queue/deliveries", { headers: { cookie: jar } });
    expect(list.status).toBe(200);
    const body = JSON.stringify({ all: true });
    const json = { "content-type": "application/json", cookie: jar };
    const noToken = await api.app.request("/v1/queue/retry", { method: "POST", headers: json, body });
    expect(noToken.status).toBe(403);
    expect(await noToken.json()).toMatchObject({ type: "urn:zonerelay:problem:csrf-failed" });
    const ok = await api.app.request("/v1/queue/retry", {
      method: "POST",
      headers: { ...json, "x-csrf-token": csrf },
      body,
    });
    expect(ok.status).toBe(200);
    const audit = await (await api.app.request("/v1/audit", { headers: { cookie: jar } })).json();
    expect(audit.entries[0]).toMatchObject({ actor: "admin:alice", action: "queue.retry" });
  });

  it("ends the session when it expires, and on a forged cookie", async () => {
    const { jar } = await session();
    api.clock.advance(8 * 3_600_000 + 1);
    expect((await api.app.request("/v1/queue/deliveries", { headers: { cookie: jar } })).status).toBe(401);
    const forged = `${jar.slice(0, -3)}AAA`;
    expect((await api.app.request("/v1/queue/deliveries", { headers: { cookie: forged } })).status).toBe(401);
  });
});
