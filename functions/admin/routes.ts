// The web admin at /admin: login and logout, the app shell and its two static files. The app itself talks to the
// same /v1 API as the CLI (callerAuth accepts the session cookie there), so browser, API and CLI have one power.
import { readFileSync } from "node:fs";
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AuthThrottle } from "../../shared/auth/auth-throttle.ts";
import { verifyPassword } from "../../shared/auth/password.ts";
import { MailError } from "../../shared/errors.ts";
import type { ApiEnv, AppDeps } from "../app-env.ts";
import { clientAddress } from "../auth.ts";
import { ADMIN_CSP, appPage, loginPage } from "./pages.ts";
import { type AdminSessions, csrfMatches, SESSION_COOKIE } from "./session.ts";

const ASSETS: Record<string, { type: string; body: string }> = {
  "app.js": { type: "text/javascript; charset=utf-8", body: readAsset("app.js") },
  "app.css": { type: "text/css; charset=utf-8", body: readAsset("app.css") },
};

function readAsset(name: string): string {
  return readFileSync(new URL(`./assets/${name}`, import.meta.url), "utf8");
}

/** The posted form; a body that is no form (multipart without a boundary, say) is the client's error: 400. */
async function readForm(c: Context<ApiEnv>): Promise<Record<string, unknown>> {
  try {
    return await c.req.parseBody();
  } catch {
    throw new MailError("invalid-request", "Send the form as application/x-www-form-urlencoded or multipart/form-data");
  }
}

// A scrypt hash nobody's password matches: an unknown user costs as much time as a wrong password.
const DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

export function adminRoutes(deps: AppDeps, sessions: AdminSessions | undefined, throttle?: AuthThrottle): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const hostname = deps.config.hostname;

  app.use("*", async (c, next) => {
    await next();
    c.header("content-security-policy", ADMIN_CSP);
    c.header("x-frame-options", "DENY");
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "same-origin");
    if (!c.res.headers.has("cache-control")) c.header("cache-control", "no-store");
  });

  app.get("/assets/:file", (c) => {
    const asset = ASSETS[c.req.param("file")];
    if (!asset) return c.text("not found", 404);
    return c.body(asset.body, 200, { "content-type": asset.type, "cache-control": "no-cache" });
  });

  if (!sessions) {
    app.all("/*", (c) => c.text("The web admin is off: add admin.users (zonerelay hash-password) to the config.", 404));
    return app;
  }

  const secure = (url: string, proto: string | undefined) => new URL(url).protocol === "https:" || proto === "https";

  app.get("/", (c) => {
    const session = sessions.verify(getCookie(c, SESSION_COOKIE), deps.clock.now());
    if (!session) return c.html(loginPage({ hostname }));
    return c.html(appPage({ hostname, user: session.user, csrf: session.csrf }));
  });

  app.post("/login", async (c) => {
    // A login form posted from another site is refused (login CSRF), when the browser says where it came from.
    const origin = c.req.header("origin");
    if (origin && origin !== new URL(c.req.url).origin) return c.text("cross-site login refused", 403);
    const form = await readForm(c);
    const user = typeof form.user === "string" ? form.user : "";
    const password = typeof form.password === "string" ? form.password : "";
    const subject = { ip: clientAddress(c), user };
    // A locked-out address or user is refused before the password is checked (no oracle while locked).
    const wait = throttle ? await throttle.lockedFor(subject) : 0;
    if (wait > 0) {
      deps.logger.warn({ user, remoteAddress: subject.ip, lockedForMs: wait }, "admin login locked out");
      const error = `Too many failed logins, try again in ${Math.ceil(wait / 60_000)} min.`;
      return c.html(loginPage({ hostname, user, error }), 429, { "retry-after": String(Math.ceil(wait / 1000)) });
    }
    const stored = Object.hasOwn(deps.config.admin.users, user) ? deps.config.admin.users[user]!.password : undefined;
    const ok = (await verifyPassword(password, stored ?? DUMMY_HASH).catch(() => false)) && stored !== undefined;
    if (!ok) {
      deps.logger.warn({ user, remoteAddress: subject.ip }, "admin login failed");
      await throttle?.failed(subject);
      return c.html(loginPage({ hostname, user, error: "Wrong user or password." }), 401);
    }
    setCookie(c, SESSION_COOKIE, sessions.issue(user, deps.clock.now()), {
      path: "/",
      httpOnly: true,
      sameSite: "Strict",
      secure: secure(c.req.url, c.req.header("x-forwarded-proto")),
      maxAge: Math.floor(sessions.ttlMs / 1000),
    });
    deps.logger.info({ audit: { actor: `admin:${user}`, action: "admin.login" } }, `audit: admin:${user} admin.login`);
    return c.redirect("/admin", 303);
  });

  app.post("/logout", async (c) => {
    const session = sessions.verify(getCookie(c, SESSION_COOKIE), deps.clock.now());
    const form = await readForm(c);
    if (session && !csrfMatches(session, typeof form.csrf === "string" ? form.csrf : undefined)) {
      return c.text("CSRF token missing or wrong", 403);
    }
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/admin", 303);
  });

  return app;
}
