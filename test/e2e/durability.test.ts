// The relay as a real OS process: killed with SIGKILL mid-queue it loses nothing it acknowledged; stopped with
// SIGTERM it exits cleanly; a 25 MB message passes through in bounded memory.
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { type ProcessWorld, startProcessWorld, waitFor } from "../support/process-world.ts";
import type { RelayProcess } from "../support/relay.ts";
import type { SinkOptions } from "../support/smtp-sink.ts";
import { rfc822, sendSmtp } from "../support/world.ts";

let setup: ProcessWorld | undefined;
let relay: RelayProcess | undefined;

// close() kills the relays the world started, then stops its sink and DNS server.
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

const prepare = (sink: SinkOptions = {}) => startProcessWorld({ sink });

describe("durability of the embedded relay process", () => {
  it("delivers every acknowledged message after kill -9 mid-queue and a restart", async () => {
    let blocked = true;
    setup = await prepare({
      rcptReply: () => (blocked ? { code: 451, message: "4.4.5 Try again later, busy" } : undefined),
    });
    relay = await setup.spawn();

    // Phase 1: the MX defers everything, so these are attempted and waiting for their retry when we kill.
    const recipients: string[] = [];
    for (let i = 0; i < 20; i++) {
      const to = `deferred${i}@${i % 2 ? "a.test" : "b.test"}`;
      recipients.push(to);
      await sendSmtp(setup.smtpPort, { from: "app@sender.test", to: [to] }, rfc822({ Subject: `deferred ${i}` }));
    }
    await new Promise((r) => setTimeout(r, 500));
    // Phase 2: the MX accepts again; kill the relay right after the last 250, with work queued and in flight.
    blocked = false;
    for (let i = 0; i < 20; i++) {
      const to = `fresh${i}@a.test`;
      recipients.push(to);
      await sendSmtp(setup.smtpPort, { from: "app@sender.test", to: [to] }, rfc822({ Subject: `fresh ${i}` }));
    }
    await relay.kill("SIGKILL");
    const deliveredBeforeRestart = new Set(setup.sink.messages.flatMap((m) => m.to)).size;
    expect(deliveredBeforeRestart).toBeLessThan(recipients.length);

    relay = await setup.spawn();
    const sink = setup.sink;
    await waitFor(() => new Set(sink.messages.flatMap((m) => m.to)).size === recipients.length, "all 40 recipients");
    expect([...new Set(sink.messages.flatMap((m) => m.to))].sort()).toEqual([...recipients].sort());
  });

  it("stops on SIGTERM: refuses new work, releases its leases and exits 0; a restart picks the work up", async () => {
    let accepting = false;
    setup = await prepare({ rcptReply: () => (accepting ? undefined : { code: 451, message: "4.3.2 Not now" }) });
    relay = await setup.spawn();
    await sendSmtp(setup.smtpPort, { from: "app@sender.test", to: ["later@a.test"] }, rfc822({ Subject: "later" }));
    const exited = new Promise<number | null>((resolve) => relay!.child.once("exit", (code) => resolve(code)));
    relay.child.kill("SIGTERM");
    expect(await exited).toBe(0);

    accepting = true;
    relay = await setup.spawn();
    const [msg] = await setup.sink.waitForMessages(1);
    expect(msg!.to).toEqual(["later@a.test"]);
  });

  it("streams 25 MB and 100 MB messages through intake, spool and delivery in constant memory", async () => {
    setup = await prepare({ discardBody: true });
    relay = await setup.spawn();
    const sink = setup.sink;
    // Warm up the code paths once, so the baseline includes the loaded modules and connection buffers.
    await sendSmtp(setup.smtpPort, { from: "app@sender.test", to: ["warm@a.test"] }, rfc822({ Subject: "warm-up" }));
    await sink.waitForMessages(1);
    const baseline = relay.peakRssKb();

    async function sendBig(mb: number) {
      const line = `${"0123456789abcdef".repeat(4)}\r\n`; // 66 bytes
      const block = Buffer.from(line.repeat(1000));
      const blocks = Math.ceil((mb * 1024 * 1024) / block.length);
      function* body() {
        yield Buffer.from(`From: app@sender.test\r\nTo: big@a.test\r\nSubject: ${mb} MB\r\n\r\n`);
        for (let i = 0; i < blocks; i++) yield block;
      }
      const before = sink.messages.length;
      await sendSmtp(setup!.smtpPort, { from: "app@sender.test", to: ["big@a.test"] }, Readable.from(body()));
      await waitFor(() => sink.messages.length === before + 1, `the ${mb} MB message at the sink`, 90_000);
      expect(sink.messages[before]!.size).toBeGreaterThan(mb * 1024 * 1024);
      return (relay!.peakRssKb() - baseline) / 1024;
    }

    const after25 = await sendBig(25);
    const after100 = await sendBig(100);
    // Holding a message whole would add at least its size; streaming leaves buffers and GC slack, the same for
    // 25 MB as for 100 MB.
    expect(after100).toBeLessThan(64);
    expect(after100 - after25).toBeLessThan(16);
  }, 180_000);
});
