// Test harness for the HTTP API: the real app over the real local queue, fs body store and submit pipeline in a
// temp dir, with a clock the test moves.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { pino } from "pino";
import { createFsBodyStore } from "../shared/adapters/body-store/fs.ts";
import { createLocalQueue } from "../shared/adapters/queue/local.ts";
import { createFsUploadStore } from "../shared/adapters/upload-store/fs.ts";
import { parseConfig } from "../shared/config/load.ts";
import type { ConfigInput } from "../shared/config/schema.ts";
import { createSubmit } from "../shared/intake/submit.ts";
import type { BodyStore } from "../shared/ports/body-store.ts";
import type { Queue } from "../shared/ports/queue.ts";
import type { QueueOps } from "../shared/ports/queue-ops.ts";
import { createApp } from "./app.ts";
import { sha256Hex } from "./auth.ts";

export const KEYS = { full: "zr_full_0123456789", scoped: "zr_zone_a_0123456789" };

/** Keys in config form: `full` may use every zone, `scoped` only zone "a". */
export const keyConfig = [
  { id: "full", hash: `sha256:${sha256Hex(KEYS.full)}` },
  { id: "scoped", hash: `sha256:${sha256Hex(KEYS.scoped)}`, zones: ["a"] },
];

export interface TestApi {
  app: ReturnType<typeof createApp>;
  queue: Queue;
  ops: QueueOps;
  bodyStore: BodyStore;
  clock: { now(): number; advance(ms: number): void };
  config: ReturnType<typeof parseConfig>;
  /** The stored message as text. */
  storedBody(id: string): Promise<string>;
  close(): Promise<void>;
}

export async function createTestApi(
  options: { api?: ConfigInput["api"]; admin?: ConfigInput["admin"]; wrapQueue?: (q: Queue) => Queue } = {},
): Promise<TestApi> {
  const dir = mkdtempSync(join(tmpdir(), "zr-api-"));
  let now = Date.UTC(2026, 10, 25, 6, 0, 0);
  const clock = {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
  const config = parseConfig({
    hostname: "relay.example.test",
    zones: { default: {}, a: {}, b: {} },
    api: { keys: keyConfig, maxSize: 100_000, ...options.api },
    ...(options.admin ? { admin: options.admin } : {}),
  });
  const realQueue = createLocalQueue({ path: join(dir, "queue.sqlite"), clock });
  const queue = options.wrapQueue ? options.wrapQueue(realQueue) : realQueue;
  const bodyStore = await createFsBodyStore({ dir: join(dir, "spool") });
  const logger = pino({ level: "silent" });
  const submit = createSubmit({
    queue,
    bodyStore,
    clock,
    hostname: config.hostname,
    zones: Object.keys(config.zones),
    logger,
    idempotencyTtl: config.api.idempotencyTtl,
  });
  const uploads = await createFsUploadStore({
    dir: join(dir, "uploads"),
    ttlMs: config.uploads.ttl,
    expireAfterMs: config.uploads.expireAfter,
    clock,
  });
  const app = createApp({ config, queue, bodyStore, submit, clock, logger, ops: realQueue.ops, uploads });
  return {
    app,
    queue,
    ops: realQueue.ops,
    bodyStore,
    clock,
    config,
    storedBody: async (id) => text(await bodyStore.get(id)),
    close: async () => {
      await realQueue.close();
      await bodyStore.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** A JSON POST to /v1/messages with the full key unless headers say otherwise. */
export function postJson(api: TestApi, body: unknown, headers: Record<string, string> = {}) {
  return api.app.request("/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json", ...bearer(KEYS.full), ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}
