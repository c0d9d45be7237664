// The web admin in a real browser: Debian's headless Chromium (scripts/services/chromium.sh) driven by playwright-core,
// against a running relay whose sink defers one message. Screenshots are kept under test/artifacts/ (gitignored).
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "../../shared/auth/password.ts";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dirname, "../artifacts");

let browser: Browser;
let world: World | undefined;

beforeAll(async () => {
  // A test that needs a service fails loudly when it is missing.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/services.sh up (installs chromium)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `admin-${name}.png`), fullPage: true });

describe("web admin in Chromium", () => {
  it("logs in, sees a deferred message with its reason, retries it and sees it delivered", async () => {
    world = await startWorld({
      relay: {
        admin: { users: { alice: { password: await hashPassword("correct horse") } } },
        // keys make the API refuse anonymous callers: the browser must use its session
        api: { keys: [{ id: "ops", hash: `sha256:${"0".repeat(64)}` }] },
        queue: { retrySchedule: ["1h"] },
        pools: {
          default: [
            { address: "127.0.0.2", name: "out1.zonerelay.test" },
            {
              address: "127.0.0.3",
              name: "out2.zonerelay.test",
              warmup: { since: new Date().toISOString().slice(0, 10) },
            },
          ],
        },
      },
    });
    const { relay } = world;
    const recipient = "tempfail-once-ui@a.test";
    const id = await sendSmtp(
      relay.smtpPort,
      { from: "shop@sender.test", to: [recipient] },
      rfc822({ From: "shop@sender.test", To: recipient, Subject: "Your order" }),
    );

    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

    // Log in (a wrong password first)
    await page.goto(`${relay.apiUrl}/admin`);
    await page.getByLabel("User").fill("alice");
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("Wrong user or password");
    await page.getByLabel("Password").fill("correct horse");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    const cookie = (await context.cookies()).find((c) => c.name === "zr_admin")!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict" });

    // The overview shows the deferred delivery in its zone, live
    await expect
      .poll(async () => page.getByRole("row", { name: /^default/ }).textContent(), { timeout: 20_000, interval: 500 })
      .toMatch(/default\s*0\s*1\s*0/);
    await shot(page, "overview");

    // The queue: the deferred message with the sink's reply
    await page.getByRole("link", { name: "Queue" }).click();
    await page.getByRole("heading", { name: "Queue" }).waitFor();
    const row = page.getByRole("row", { name: new RegExp(recipient) });
    await expect.poll(() => row.textContent()).toMatch(/deferred.*451 4\.3\.0/);
    await shot(page, "deferred");

    // Retry it, then follow the message to its timeline until it is delivered
    await page.getByRole("button", { name: `Retry ${recipient}` }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("retry: 1 changed");
    await page.getByRole("link", { name: recipient }).click();
    await page.getByRole("heading", { name: /Message “Your order”/ }).waitFor();
    await expect
      .poll(
        async () => {
          await page.evaluate(() => window.dispatchEvent(new HashChangeEvent("hashchange")));
          return page.getByRole("region", { name: `Delivery to ${recipient}` }).textContent();
        },
        { timeout: 20_000, interval: 500 },
      )
      .toMatch(/delivered/);
    const timeline = await page.getByRole("table", { name: `Attempts to ${recipient}` }).textContent();
    expect(timeline).toMatch(/deferred.*451 4\.3\.0/);
    expect(timeline).toMatch(/delivered.*250/);
    expect(timeline).toMatch(/127\.0\.0\.[23].*mx\.sink\.test/);
    await shot(page, "message");
    const status = await fetch(`${relay.apiUrl}/v1/messages/${id}`).then((r) => r.status);
    expect(status).toBe(401); // the API itself still needs a key

    // Why slow, warm-up, config (secrets hidden), audit (who retried)
    await page.getByRole("link", { name: "Why slow?" }).click();
    await page.getByLabel("Domain").fill("a.test");
    await page.getByRole("button", { name: "Diagnose" }).click();
    await expect
      .poll(() => page.getByRole("table", { name: /Limits in force/ }).textContent())
      .toContain("zones.default.connections");
    await shot(page, "diagnose");
    await page.getByRole("link", { name: "Warm-up" }).click();
    await expect.poll(() => page.getByRole("table", { name: "Warm-up" }).textContent()).toMatch(/127\.0\.0\.3.*50/);
    await page.getByRole("link", { name: "Suspensions" }).click();
    await page.getByRole("heading", { name: "Suspensions" }).waitFor();
    await page.getByRole("link", { name: "Config" }).click();
    const config = await page.getByLabel("Running configuration").textContent();
    expect(config).toContain('"password": "(hidden)"');
    expect(config).not.toContain("scrypt$");
    await page.getByRole("link", { name: "Audit" }).click();
    await expect.poll(() => page.getByRole("table").textContent()).toMatch(/admin:alice\s*queue\.retry/);
    await shot(page, "audit");

    // Usable from the keyboard and on a laptop screen: the skip link comes first, every field is labelled, no
    // sideways scrolling at 1366 px.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    await page.getByRole("link", { name: "Queue" }).click();
    await page.getByRole("heading", { name: "Queue" }).waitFor();
    expect(
      await page.$$eval("input:not([type=hidden]), select", (els) =>
        els.every((e) => ((e as HTMLInputElement).labels?.length ?? 0) > 0),
      ),
    ).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1366);

    // Sign out: the API refuses the old page's calls
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    expect(errors.filter((e) => !/401|Unauthorized/.test(e))).toEqual([]);
    await context.close();
  });
});
