import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFsBodyStore } from "../adapters/body-store/fs.ts";
import { createLocalQueue } from "../adapters/queue/local.ts";
import { MailError } from "../errors.ts";
import type { BodyStore } from "../ports/body-store.ts";
import type { Queue } from "../ports/queue.ts";
import { createSubmit } from "./submit.ts";
import type { Submit } from "./submit-types.ts";

const FIXED_CLOCK = { now: () => Date.UTC(2026, 10, 25, 6, 0, 0) };

describe("submit pipeline", () => {
  let dir: string;
  let queue: Queue;
  let store: BodyStore;
  let submit: Submit;
  const queued: string[][] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "zr-submit-"));
    // One fixed clock for both: an idempotency claim made at submit's "now" must not look expired to a queue
    // that reads the real time (it did from 2026-11-26 06:00 UTC, one TTL after the fixed date).
    queue = createLocalQueue({ path: join(dir, "q.sqlite"), clock: FIXED_CLOCK });
    store = await createFsBodyStore({ dir: join(dir, "spool") });
    submit = createSubmit({
      queue,
      bodyStore: store,
      clock: FIXED_CLOCK,
      hostname: "relay.example.test",
      zones: ["default", "bulk"],
      logger: pino({ level: "silent" }),
      onQueued: (zones) => queued.push(zones),
    });
  });
  afterEach(async () => {
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const input = (raw: string | string[], over: Partial<Parameters<Submit>[0]> = {}) => ({
    from: "sender@example.test",
    to: ["a@one.test", "b@two.test", "A@ONE.test"],
    body: Readable.from((Array.isArray(raw) ? raw : [raw]).map((c) => Buffer.from(c))),
    source: { interface: "smtp" as const, name: "feeder", remoteAddress: "127.0.0.1" },
    maxSize: 10_000,
    ...over,
  });

  it("stores the message with Received, Message-ID and Date added, and queues one delivery per recipient", async () => {
    const result = await submit(input("From: a@example.test\nSubject: Hi\n\nbody line\n"));
    expect(result.deliveries.map((d) => d.recipient)).toEqual(["a@one.test", "b@two.test"]);
    const stored = await text(await store.get(result.messageId));
    expect(stored).toMatch(/^Received: from unknown \(\[127\.0\.0\.1\]\)\r\n\tby relay\.example\.test \(ZoneRelay\)/);
    expect(stored).toContain(`Message-ID: <${result.messageId}@relay.example.test>\r\n`);
    expect(stored).toContain("Date: Wed, 25 Nov 2026 06:00:00 +0000\r\n");
    expect(stored).toMatch(/Subject: Hi\r\nMessage-ID: .*\r\nDate: .*\r\n\r\nbody line\r\n$/);
    expect(stored).not.toMatch(/[^\r]\n/);
    const status = await queue.getMessage(result.messageId);
    expect(status?.message).toMatchObject({
      from: "sender@example.test",
      subject: "Hi",
      messageIdHeader: result.messageIdHeader,
    });
    expect(queued).toContainEqual(["default"]);
  });

  it("keeps an existing Message-ID and Date", async () => {
    const result = await submit(
      input(["Message-ID: <keep@x.test>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n", "\r\nhi\r\n"]),
    );
    const stored = await text(await store.get(result.messageId));
    expect(result.messageIdHeader).toBe("<keep@x.test>");
    expect(stored.match(/^Message-ID:/gim)).toHaveLength(1);
    expect(stored.match(/^Date:/gim)).toHaveLength(1);
  });

  it("refuses a message with 35 Received headers as a mail loop and stores nothing", async () => {
    const loop = `${"Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n".repeat(35)}\r\nbody\r\n`;
    await expect(submit(input(loop))).rejects.toMatchObject({ kind: "mail-loop", smtpCode: 554 });
    const ids: string[] = [];
    for await (const id of store.list()) ids.push(id);
    expect(ids).toEqual([]);
  });

  it("refuses a message over the size limit while streaming", async () => {
    const big = `Subject: big\r\n\r\n${"x".repeat(20_000)}\r\n`;
    await expect(submit(input(big))).rejects.toMatchObject({ kind: "message-too-large", smtpCode: 552 });
  });

  it("refuses unknown or forbidden zones and invalid addresses", async () => {
    await expect(submit(input("\r\nx", { zone: "nope" }))).rejects.toMatchObject({
      kind: "invalid-request",
      field: "zone",
    });
    await expect(submit(input("\r\nx", { zone: "bulk", allowedZones: ["default"] }))).rejects.toBeInstanceOf(MailError);
    await expect(submit(input("\r\nx", { to: ["victim%other.test@one.test"] }))).rejects.toMatchObject({
      kind: "invalid-address",
    });
  });

  it("returns the first result for a repeated idempotency key", async () => {
    const first = await submit(input("Subject: once\r\n\r\nx", { idempotency: { scope: "k", key: "abc" } }));
    const again = await submit(input("Subject: once\r\n\r\nx", { idempotency: { scope: "k", key: "abc" } }));
    expect(again).toMatchObject({ messageId: first.messageId, duplicate: true });
    let bodies = 0;
    for await (const _ of store.list()) bodies++;
    expect(bodies).toBe(1);
  });

  it("answers a temporary error when the queue cannot store", async () => {
    await queue.close();
    await expect(submit(input("Subject: x\r\n\r\nx"))).rejects.toMatchObject({ temporary: true });
  });
});
