import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bearer, createTestApi, KEYS, type TestApi } from "../test-fixture.ts";

interface Target {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  expiresAt: string;
}

const message = "From: shop@sender.test\r\nTo: ann@one.test\r\nSubject: Large\r\n\r\nBody line\r\n";

describe("the upload flow (fs store: URLs served by the API itself)", () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await createTestApi();
  });
  afterEach(() => api.close());

  async function newUpload(body: unknown = {}, key = KEYS.full): Promise<Target> {
    const res = await api.app.request("http://api.test/v1/uploads", {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(key) },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as Target;
  }

  /** PUTs to the URL as any HTTP client would: no API key, only the signed URL. */
  const put = (target: Target, body: string) =>
    api.app.request(target.url, { method: "PUT", headers: target.headers, body });

  it("hands out a signed PUT URL, takes the bytes without an API key, and submits them through the pipeline", async () => {
    const target = await newUpload({ size: Buffer.byteLength(message) });
    expect(target.method).toBe("PUT");
    expect(target.url).toMatch(new RegExp(`^http://api\\.test/v1/uploads/${target.id}\\?`));
    expect(Date.parse(target.expiresAt)).toBe(api.clock.now() + 3_600_000);
    expect((await put(target, message)).status).toBe(200);

    const res = await api.app.request(`/v1/messages/raw?upload=${target.id}&from=shop@sender.test&to=ann@one.test`, {
      method: "POST",
      headers: bearer(KEYS.full),
    });
    expect(res.status).toBe(202);
    const { id } = await res.json();
    const stored = await api.storedBody(id);
    // The same pipeline as a request body: our Received header and Message-ID were added.
    expect(stored).toMatch(/^Received: from api\b.*\r\n\tby relay\.example\.test \(ZoneRelay\) with HTTP/);
    expect(stored).toMatch(/^Message-ID: </m);
    expect(stored).toContain("Body line\r\n");

    // Submitted: the staged copy is gone.
    const again = await api.app.request(`/v1/messages/raw?upload=${target.id}&from=shop@sender.test&to=ann@one.test`, {
      method: "POST",
      headers: bearer(KEYS.full),
    });
    expect(again.status).toBe(404);
  });

  it("keeps an upload submitted with an Idempotency-Key, so a retry gets the first answer", async () => {
    const target = await newUpload();
    expect((await put(target, message)).status).toBe(200);
    const submit = () =>
      api.app.request(`/v1/messages/raw?upload=${target.id}&from=shop@sender.test&to=ann@one.test`, {
        method: "POST",
        headers: { ...bearer(KEYS.full), "idempotency-key": "order-1" },
      });
    const first = await submit();
    expect(first.status).toBe(202);
    const again = await submit();
    expect(again.status).toBe(200);
    expect((await again.json()).id).toBe((await first.json()).id);
  });

  it("takes a JSON request document by upload", async () => {
    const target = await newUpload({ contentType: "application/json" });
    const doc = { from: "shop@sender.test", to: "ann@one.test", subject: "By upload", text: "hello" };
    expect((await put(target, JSON.stringify(doc))).status).toBe(200);
    const res = await api.app.request("/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(KEYS.full) },
      body: JSON.stringify({ upload: target.id }),
    });
    expect(res.status).toBe(202);
    expect(await api.storedBody((await res.json()).id)).toMatch(/^Subject: By upload$/m);
  });

  it("refuses a tampered or expired URL, more bytes than announced, and another key's upload", async () => {
    const target = await newUpload({ size: 10 });
    const tampered = { ...target, url: target.url.replace("limit=10", "limit=99999") };
    expect((await put(tampered, message)).status).toBe(401);
    expect((await put(target, message)).status).toBe(413);

    const open = await newUpload();
    expect((await put(open, message)).status).toBe(200);
    const other = await api.app.request(`/v1/messages/raw?upload=${open.id}&from=shop@sender.test&to=ann@one.test`, {
      method: "POST",
      headers: bearer(KEYS.scoped),
    });
    expect(other.status).toBe(404);

    const late = await newUpload();
    api.clock.advance(3_600_001);
    expect((await put(late, message)).status).toBe(401);
  });

  it("refuses an announced size over api.maxSize before handing out a URL", async () => {
    const res = await api.app.request("/v1/uploads", {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(KEYS.full) },
      body: JSON.stringify({ size: 100_001 }),
    });
    expect(res.status).toBe(413);
  });

  it("stops a PUT without an announced size at api.maxSize", async () => {
    const target = await newUpload();
    const big = `${message}${"x".repeat(100_000)}\r\n`;
    expect((await put(target, big)).status).toBe(413);
    const res = await api.app.request(`/v1/messages/raw?upload=${target.id}&from=shop@sender.test&to=ann@one.test`, {
      method: "POST",
      headers: bearer(KEYS.full),
    });
    expect(res.status).toBe(404);
  });
});
