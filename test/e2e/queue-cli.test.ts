// `zonerelay queue …` as an operator runs it: the real CLI as a child process against a running relay's API, on
// deliveries a real sink deferred.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../functions/auth.ts";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const ROOT = join(import.meta.dirname, "../..");
const KEY = "zr_ops_cli_test_key";

/** Runs the CLI; resolves with its exit code and output (never rejects on a non-zero exit). */
function cli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["scripts/zonerelay.mjs", "queue", ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("zonerelay queue (CLI)", () => {
  it("lists, shows, holds, releases, retries, flushes and deletes through the API", async () => {
    world = await startWorld({
      relay: {
        api: { keys: [{ id: "ops", hash: `sha256:${sha256Hex(KEY)}` }] },
        queue: { retrySchedule: ["1h"] },
      },
    });
    const { relay, sink } = world;
    const api = ["--api", relay.apiUrl];
    const env = { ZONERELAY_API_KEY: KEY };
    const send = (to: string) =>
      sendSmtp(
        relay.smtpPort,
        { from: "app@sender.test", to: [to] },
        rfc822({ From: "app@sender.test", To: to, Subject: "cli" }),
      );
    const once = await send("tempfail-once-cli@a.test");
    const always = await send("tempfail-always@b.test");
    const waitDeferred = async (id: string) => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const res = await fetch(`${relay.apiUrl}/v1/messages/${id}`, { headers: { authorization: `Bearer ${KEY}` } });
        const body = (await res.json()) as { deliveries: { state: string; attempts: number }[] };
        if (body.deliveries[0]!.state === "deferred") return body;
        if (Date.now() > deadline) throw new Error(`not deferred: ${JSON.stringify(body)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const stateOf = async (id: string) => {
      const res = await fetch(`${relay.apiUrl}/v1/messages/${id}`, { headers: { authorization: `Bearer ${KEY}` } });
      return ((await res.json()) as { deliveries: { state: string; attempts: number }[] }).deliveries[0]!;
    };
    await waitDeferred(once);
    await waitDeferred(always);

    // list: a table like mailq, the last reply under each delivery
    const list = await cli(["list", ...api], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^DELIVERY\s+STATE\s+ZONE\s+TRIES\s+AGE\s+NEXT\s+RECIPIENT/);
    expect(list.stdout).toMatch(/deferred\s+default\s+1\s+\S+\s+in \S+\s+tempfail-once-cli@a\.test/);
    expect(list.stdout).toMatch(/\n {4}451 4\.3\.0/);
    expect(list.stdout).toMatch(/-- 2 deliveries\n$/);
    const json = JSON.parse((await cli(["list", "--json", "--domain", "b.test", ...api], env)).stdout);
    expect(json.deliveries.map((d: { recipient: string }) => d.recipient)).toEqual(["tempfail-always@b.test"]);

    // show: the attempt timeline
    const show = await cli(["show", once, ...api], env);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`message   ${once}`);
    expect(show.stdout).toMatch(/deferred\s+\d+ms\s+from 127\.0\.0\.[23] to mx\.sink\.test/);

    // hold / release
    expect((await cli(["hold", always, ...api], env)).stdout).toBe("hold: 1 delivery\n");
    const held = JSON.parse((await cli(["list", "--json", "--state", "held", ...api], env)).stdout);
    expect(held.deliveries.map((d: { messageId: string }) => d.messageId)).toEqual([always]);
    expect((await cli(["release", "--domain", "b.test", ...api], env)).stdout).toBe("release: 1 delivery\n");

    // retry: due now, and the sink accepts it this time
    expect((await cli(["retry", once, ...api], env)).stdout).toBe("retry: 1 delivery\n");
    const retryDeadline = Date.now() + 20_000;
    while ((await stateOf(once)).state !== "delivered") {
      if (Date.now() > retryDeadline) throw new Error("retried delivery was not delivered");
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sink.messages.map((m) => m.to[0])).toContain("tempfail-once-cli@a.test");

    // flush: b.test's deferred delivery is tried again at once (and deferred again by the sink)
    const before = (await stateOf(always)).attempts;
    expect((await cli(["flush", "b.test", ...api], env)).stdout).toMatch(
      /^flush b\.test: [01] deliver(y|ies) due now\n$/,
    );
    const deadline = Date.now() + 20_000;
    while ((await stateOf(always)).attempts <= before) {
      if (Date.now() > deadline) throw new Error("flushed delivery was not attempted");
      await new Promise((r) => setTimeout(r, 100));
    }

    // delete: bounce with a DSN to the sender
    const del = await cli(["delete", always, "--reason", "customer asked", ...api], env);
    expect(del.stdout).toBe("delete: 1 delivery\n");
    expect((await stateOf(always)).state).toBe("bounced");
    const dsn = (await sink.waitForMessages(2)).find((m) => m.from === "")!;
    expect(dsn.to).toEqual(["app@sender.test"]);
    expect(dsn.raw.toString()).toMatch(/deleted by operator: customer asked/);

    // the audit trail names the key and every action
    const audit = await fetch(`${relay.apiUrl}/v1/audit`, { headers: { authorization: `Bearer ${KEY}` } });
    const actions = ((await audit.json()) as { entries: { action: string; actor: string }[] }).entries;
    expect(actions.map((a) => a.action)).toEqual([
      "queue.delete",
      "queue.flush",
      "queue.retry",
      "queue.release",
      "queue.hold",
    ]);
    expect(new Set(actions.map((a) => a.actor))).toEqual(new Set(["key:ops"]));
  });

  it("drops silently with --drop, refuses an empty filter, and fails with the API's reason", async () => {
    world = await startWorld({
      relay: { api: { keys: [{ id: "ops", hash: `sha256:${sha256Hex(KEY)}` }] }, queue: { retrySchedule: ["1h"] } },
    });
    const api = ["--api", world.relay.apiUrl, "--key", KEY];
    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["tempfail-drop@a.test"] },
      rfc822({ From: "app@sender.test", To: "tempfail-drop@a.test", Subject: "drop" }),
    );
    const deadline = Date.now() + 20_000;
    while (!(await cli(["list", "--json", ...api])).stdout.includes(id)) {
      if (Date.now() > deadline) throw new Error("never listed");
    }
    expect((await cli(["delete", "--zone", "default", "--drop", ...api])).stdout).toBe("delete: 1 delivery\n");
    expect((await cli(["list", ...api])).stdout).toMatch(/-- 0 deliveries/);

    const empty = await cli(["retry", ...api]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/needs ids, a filter or --all/);
    const wrongKey = await cli(["list", "--api", world.relay.apiUrl, "--key", "nope"]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/401 Authentication failed/);
    const usage = await cli(["frobnicate"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown command "frobnicate"/);
    const down = await cli(["list", "--api", "http://127.0.0.1:9", "--key", KEY]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});
