import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../shared/config/load.ts";
import { isLoopbackHost, startApiServer } from "./server.ts";
import { bearer, createTestApi, KEYS, type TestApi } from "./test-fixture.ts";

const logger = pino({ level: "silent" });

describe("API server (Node)", () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await createTestApi({ api: { host: "127.0.0.1", port: 0 } });
  });
  afterEach(() => api.close());

  it("listens on a kernel-chosen port and accepts a streamed raw message over real HTTP", async () => {
    const server = await startApiServer({ config: api.config, app: api.app, logger });
    try {
      expect(server.port).toBeGreaterThan(0);
      const base = `http://127.0.0.1:${server.port}`;
      expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: "ok" });

      const lines = [
        "From: app@sender.test\r\nSubject: over the wire\r\n\r\n",
        ...Array(50).fill("a line of body\r\n"),
      ];
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = lines.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(new TextEncoder().encode(next));
        },
      });
      const res = await fetch(`${base}/v1/messages/raw?from=app@sender.test&to=a@one.test`, {
        method: "POST",
        headers: { ...bearer(KEYS.full), "content-type": "message/rfc822" },
        body,
        duplex: "half",
      } as RequestInit);
      expect(res.status).toBe(202);
      const { id } = await res.json();
      const stored = await api.storedBody(id);
      expect(stored).toContain("Subject: over the wire\r\n");
      expect(stored.match(/a line of body\r\n/g)).toHaveLength(50);
      // The Received header names the peer the node server saw.
      expect(stored).toMatch(/^Received: from api \(\[127\.0\.0\.1\]\)/);

      const oversize = await fetch(`${base}/v1/messages/raw?from=app@sender.test&to=a@one.test`, {
        method: "POST",
        headers: bearer(KEYS.full),
        body: "x".repeat(100_001),
      });
      expect(oversize.status).toBe(413);
    } finally {
      await server.close();
    }
  });

  it("refuses to listen on a non-loopback address without API keys", async () => {
    const config = parseConfig({ api: { host: "0.0.0.0", port: 0, keys: [] } });
    await expect(startApiServer({ config, app: api.app, logger })).rejects.toThrow(/no api\.keys are configured/);
  });

  it("knows which hosts are loopback", () => {
    for (const host of ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "example.test", "128.0.0.1"]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});
