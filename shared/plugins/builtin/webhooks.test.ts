import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../config/load.ts";
import type { HookContexts } from "../hooks.ts";
import { webhookSignature, webhooksPlugin } from "./webhooks.ts";

const dir = mkdtempSync(join(tmpdir(), "zr-webhooks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the plugin as the loader would; returns its log:entry handler and its close. */
async function start(options: Record<string, unknown>) {
  let onEntry: ((ctx: HookContexts["log:entry"]) => void | Promise<void>) | undefined;
  const closers: (() => void | Promise<void>)[] = [];
  await webhooksPlugin.setup({
    options,
    config: parseConfig({ queue: { dbPath: join(dir, "queue.sqlite") } }),
    logger: pino({ level: "silent" }),
    on: (hook, handler) => {
      if (hook === "log:entry") onEntry = handler as typeof onEntry;
    },
    onClose: (fn) => closers.push(fn),
  });
  return { emit: (entry: HookContexts["log:entry"]["entry"]) => onEntry!({ entry }), close: () => closers[0]!() };
}

describe("core/webhooks outbox", () => {
  it("keeps an event the receiver refused across a restart and delivers it, signed, once it answers 2xx", async () => {
    let status = 503;
    const got: { body: string; signature: string }[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (status < 300) got.push({ body, signature: String(req.headers["x-zonerelay-signature"]) });
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const options = { url, secret: "0123456789abcdef0123", backoff: "50ms", pollInterval: "50ms" };
    try {
      const first = await start(options);
      await first.emit({ event: "bounced", msgId: "m1", rcpt: "x@a.test", response: "550 5.1.1 unknown" });
      await first.emit({ event: "accepted", msgId: "m1" }); // not a webhook event by default
      await new Promise((r) => setTimeout(r, 300)); // refused a few times
      await first.close();

      status = 200;
      const second = await start(options); // a new process on the same outbox file
      const deadline = Date.now() + 5000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      await second.close();
      expect(got).toHaveLength(1);
      const event = JSON.parse(got[0]!.body);
      expect(event).toMatchObject({ event: "bounced", msgId: "m1", rcpt: "x@a.test" });
      const t = Number(/t=(\d+)/.exec(got[0]!.signature)![1]);
      expect(got[0]!.signature).toBe(webhookSignature(options.secret, t, got[0]!.body));
    } finally {
      server.close();
    }
  });
});
