import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bearer, createTestApi, KEYS, postJson, type TestApi } from "../test-fixture.ts";

describe("POST /v1/messages (JSON)", () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await createTestApi();
  });
  afterEach(() => api.close());

  const message = {
    from: { name: "Shop", address: "shop@sender.test" },
    to: "Ann <ann@one.test>",
    cc: ["bob@two.test"],
    bcc: ["secret@three.test"],
    subject: "Your order",
    text: "Thanks!",
    html: "<p>Thanks!</p>",
    attachments: [{ filename: "a.txt", content: Buffer.from("hello").toString("base64"), contentType: "text/plain" }],
    headers: { "X-Campaign": "nov" },
  };

  it("accepts a message with 202, stores it without Bcc and queues one delivery per recipient", async () => {
    const res = await postJson(api, message);
    expect(res.status).toBe(202);
    const body = await res.json();
    expect(res.headers.get("location")).toBe(`/v1/messages/${body.id}`);
    expect(body.messageId).toMatch(/^<.+@relay\.example\.test>$/);
    expect(body.deliveries.map((d: { recipient: string }) => d.recipient)).toEqual([
      "ann@one.test",
      "bob@two.test",
      "secret@three.test",
    ]);
    expect(body.deliveries.every((d: { zone: string }) => d.zone === "default")).toBe(true);

    const stored = await api.storedBody(body.id);
    const headerBlock = stored.slice(0, stored.indexOf("\r\n\r\n"));
    expect(headerBlock).toMatch(/^Subject: Your order$/m);
    expect(headerBlock).toMatch(/^From: Shop <shop@sender\.test>$/m);
    expect(headerBlock).toMatch(/^To: Ann <ann@one\.test>$/m);
    expect(headerBlock).toMatch(/^Cc: bob@two\.test$/m);
    expect(headerBlock).toMatch(/^X-Campaign: nov$/m);
    expect(headerBlock).toContain(`Message-ID: ${body.messageId}`);
    expect(stored).not.toMatch(/^Bcc:/im);
    expect(stored).not.toContain("secret@three.test");
    expect(stored).toContain(Buffer.from("hello").toString("base64"));

    const status = await api.queue.getMessage(body.id);
    expect(status?.message).toMatchObject({ from: "shop@sender.test", subject: "Your order" });
    expect(status?.message.source).toMatchObject({ interface: "api", user: "full" });
  });

  it("sends through the requested zone and holds the message until sendAt", async () => {
    const sendAt = new Date(api.clock.now() + 3_600_000).toISOString();
    const res = await postJson(api, { ...message, zone: "b", sendAt });
    expect(res.status).toBe(202);
    const { id } = await res.json();
    const status = await api.queue.getMessage(id);
    expect(status?.deliveries.map((d) => [d.zone, d.nextAttemptAt])).toEqual(
      Array(3).fill(["b", api.clock.now() + 3_600_000]),
    );
  });

  it("refuses CR/LF in the subject with a 422 problem naming subject", async () => {
    const res = await postJson(api, { ...message, subject: "Hi\r\nBcc: victim@x.test" });
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({
      type: "urn:zonerelay:problem:header-injection",
      status: 422,
      field: "subject",
    });
  });

  it.each([
    [{ from: { name: "Evil\nBcc: x@y.test", address: "shop@sender.test" } }, "from.name"],
    [{ to: ["ok@one.test", "a@b.test\r\nX: y"] }, "to[1]"],
    [{ headers: { "X-Ok": "a\nb" } }, "headers.X-Ok"],
    [{ attachments: [{ filename: "a\r\n.txt", content: "" }] }, "attachments[0].filename"],
  ])("refuses CR/LF in any header-bound field (%j → %s)", async (patch, field) => {
    const res = await postJson(api, { ...message, ...patch });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ type: "urn:zonerelay:problem:header-injection", field });
  });

  it("refuses invalid base64 in an attachment with a 400 naming the field", async () => {
    const res = await postJson(api, { ...message, attachments: [{ filename: "x.bin", content: "not*base64!" }] });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ status: 400, field: "attachments[0].content" });
  });

  it("refuses a body that is not JSON with a 400 problem", async () => {
    const res = await postJson(api, "{ not json");
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ type: "urn:zonerelay:problem:invalid-request", status: 400 });
  });

  it("names unknown fields, invalid addresses and missing recipients", async () => {
    const unknown = await postJson(api, { ...message, subjet: "typo" });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ field: "subjet" });

    const bad = await postJson(api, { ...message, cc: ["bob@two.test", "not-an-address"] });
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ type: "urn:zonerelay:problem:invalid-address", field: "cc[1]" });

    const none = await postJson(api, { from: "a@sender.test", subject: "x", text: "x" });
    expect(none.status).toBe(400);
    expect(await none.json()).toMatchObject({ field: "to" });

    const reserved = await postJson(api, { ...message, headers: { "Content-Type": "text/html" } });
    expect(await reserved.json()).toMatchObject({ status: 400, field: "headers.Content-Type" });
  });

  it("refuses a sendAt beyond the queue's lifetime", async () => {
    const res = await postJson(api, { ...message, sendAt: "2099-01-01T00:00:00Z" });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: "sendAt" });
  });

  it("answers a repeated Idempotency-Key with 200 and the first answer, queueing the message once", async () => {
    const first = await postJson(api, message, { "idempotency-key": "order-42" });
    const again = await postJson(api, message, { "idempotency-key": "order-42" });
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    const [a, b] = [await first.json(), await again.json()];
    expect(b).toEqual(a);
    expect(again.headers.get("location")).toBe(`/v1/messages/${a.id}`);
    const bodies: string[] = [];
    for await (const id of api.bodyStore.list()) bodies.push(id);
    expect(bodies).toEqual([a.id]);
    // Another key's identical Idempotency-Key is a different message.
    const other = await api.app.request("/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "order-42", ...bearer(KEYS.scoped) },
      body: JSON.stringify(message),
    });
    expect(other.status).toBe(202);
    expect((await other.json()).id).not.toBe(a.id);
  });

  it("refuses with 413 before reading when Content-Length is far over the limit", async () => {
    const res = await postJson(api, "{}", { "content-length": String(10_000_000) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ type: "urn:zonerelay:problem:message-too-large" });
  });

  it("refuses a composed message over maxSize while streaming it", async () => {
    const big = Buffer.alloc(90_000, 1).toString("base64");
    const res = await postJson(api, { ...message, attachments: [{ filename: "big.bin", content: big }] });
    expect(res.status).toBe(413);
    const bodies: string[] = [];
    for await (const id of api.bodyStore.list()) bodies.push(id);
    expect(bodies).toEqual([]);
  });

  it("answers 503 with Retry-After when storage is unhealthy", async () => {
    const sick = await createTestApi({ wrapQueue: (q) => ({ ...q, unhealthyReason: () => "disk full" }) });
    try {
      const res = await postJson(sick, message);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("30");
      expect(await res.json()).toMatchObject({ type: "urn:zonerelay:problem:storage-unavailable", status: 503 });
    } finally {
      await sick.close();
    }
  });
});

describe("POST /v1/messages/batch", () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await createTestApi();
  });
  afterEach(() => api.close());

  const postBatch = (target: TestApi, body: unknown, headers: Record<string, string> = {}) =>
    target.app.request("/v1/messages/batch", {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(KEYS.full), ...headers },
      body: JSON.stringify(body),
    });
  const plain = (i: number) => ({ from: "shop@sender.test", to: `reader${i}@one.test`, subject: `n${i}`, text: "Hi" });

  it("queues each message on its own and answers each in its place, a bad one costing only itself", async () => {
    const batch = [plain(0), { ...plain(1), to: "not an address" }, plain(2), { ...plain(3), subject: "a\r\nb" }];
    const res = await postBatch(api, batch);
    expect(res.status).toBe(200);
    const { results } = await res.json();
    expect(results.map((r: { status: number }) => r.status)).toEqual([202, 422, 202, 422]);
    expect(results[1]).toMatchObject({ type: "urn:zonerelay:problem:invalid-address", field: "to" });
    expect(results[3]).toMatchObject({ type: "urn:zonerelay:problem:header-injection", field: "subject" });
    for (const i of [0, 2]) {
      const status = await api.queue.getMessage(results[i].id);
      expect(status?.deliveries.map((d) => d.recipient)).toEqual([`reader${i}@one.test`]);
      expect(results[i].deliveries.map((d: { recipient: string }) => d.recipient)).toEqual([`reader${i}@one.test`]);
      expect(await api.storedBody(results[i].id)).toMatch(new RegExp(`^Subject: n${i}$`, "m"));
    }
    const bodies: string[] = [];
    for await (const id of api.bodyStore.list()) bodies.push(id);
    expect(bodies.sort()).toEqual([results[0].id, results[2].id].sort());
  });

  it("keeps the order of many messages submitted at once", async () => {
    const batch = Array.from({ length: 120 }, (_, i) => plain(i));
    const { results } = await (await postBatch(api, batch)).json();
    expect(results).toHaveLength(120);
    for (const [i, r] of results.entries()) {
      expect(r.status).toBe(202);
      expect(r.deliveries[0].recipient).toBe(`reader${i}@one.test`);
    }
    expect(new Set(results.map((r: { id: string }) => r.id)).size).toBe(120);
  });

  it("answers a retried batch with the same Idempotency-Key with the first answers, queueing nothing new", async () => {
    const batch = [plain(0), plain(1)];
    const first = await (await postBatch(api, batch, { "idempotency-key": "nightly-7" })).json();
    const again = await (await postBatch(api, batch, { "idempotency-key": "nightly-7" })).json();
    expect(first.results.map((r: { status: number }) => r.status)).toEqual([202, 202]);
    expect(again.results.map((r: { status: number }) => r.status)).toEqual([200, 200]);
    expect(again.results.map((r: { id: string }) => r.id)).toEqual(first.results.map((r: { id: string }) => r.id));
    // The same key on a single message is another claim than any message of the batch, whatever it looks like.
    for (const key of ["nightly-7", "nightly-7#0", "nightly-70"]) {
      expect((await postJson(api, plain(0), { "idempotency-key": key })).status).toBe(202);
    }
  });

  it.each([
    ["an object", plain(0)],
    ["an empty array", []],
    ["more than 500 messages", Array.from({ length: 501 }, (_, i) => plain(i))],
  ])("refuses %s with a 400 problem", async (_what, body) => {
    const res = await postBatch(api, body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: "urn:zonerelay:problem:invalid-request" });
  });

  it("needs an API key", async () => {
    const res = await api.app.request("/v1/messages/batch", { method: "POST", body: JSON.stringify([plain(0)]) });
    expect(res.status).toBe(401);
  });

  it("answers 503 with Retry-After for the messages storage could not take", async () => {
    const sick = await createTestApi({ wrapQueue: (q) => ({ ...q, unhealthyReason: () => "disk full" }) });
    try {
      const res = await postBatch(sick, [plain(0), { ...plain(1), to: "bad" }]);
      expect(res.status).toBe(200);
      expect(res.headers.get("retry-after")).toBe("30");
      const { results } = await res.json();
      expect(results.map((r: { status: number }) => r.status)).toEqual([503, 422]);
      expect(results[0]).toMatchObject({ type: "urn:zonerelay:problem:storage-unavailable" });
    } finally {
      await sick.close();
    }
  });
});

describe("POST /v1/messages/raw", () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await createTestApi();
  });
  afterEach(() => api.close());

  /** A body that arrives in several chunks, as it does from a socket. */
  function chunked(parts: string[]): ReadableStream<Uint8Array> {
    return new ReadableStream({
      pull(controller) {
        const next = parts.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
  }

  it("accepts a streamed message with the envelope in the query", async () => {
    const res = await api.app.request("/v1/messages/raw?from=app@sender.test&to=a@one.test&to=b@two.test&zone=a", {
      method: "POST",
      headers: { "content-type": "message/rfc822", ...bearer(KEYS.full) },
      body: chunked(["From: app@sender.test\r\nSubject: Raw", " one\r\n\r\n", "line 1\r\n", "line 2\r\n"]),
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(202);
    const body = await res.json();
    expect(body.deliveries.map((d: { recipient: string; zone: string }) => [d.recipient, d.zone])).toEqual([
      ["a@one.test", "a"],
      ["b@two.test", "a"],
    ]);
    const stored = await api.storedBody(body.id);
    expect(stored).toContain("Subject: Raw one\r\n");
    expect(stored).toMatch(/\r\n\r\nline 1\r\nline 2\r\n$/);
    expect(stored).toMatch(/^Received: from api\b/);
  });

  it("takes the envelope from X-Envelope-From / X-Envelope-To, and an empty sender as <>", async () => {
    const res = await api.app.request("/v1/messages/raw", {
      method: "POST",
      headers: { ...bearer(KEYS.full), "x-envelope-from": "", "x-envelope-to": "a@one.test, b@two.test" },
      body: "Subject: bounce\r\n\r\nx\r\n",
    });
    expect(res.status).toBe(202);
    const { id } = await res.json();
    const status = await api.queue.getMessage(id);
    expect(status?.message.from).toBe("");
    expect(status?.deliveries).toHaveLength(2);
  });

  it("refuses a message without an envelope", async () => {
    const res = await api.app.request("/v1/messages/raw?to=a@one.test", {
      method: "POST",
      headers: bearer(KEYS.full),
      body: "Subject: x\r\n\r\nx\r\n",
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: "from" });
  });

  it("refuses with 413 when Content-Length exceeds maxSize", async () => {
    const res = await api.app.request("/v1/messages/raw?from=a@sender.test&to=b@one.test", {
      method: "POST",
      headers: { ...bearer(KEYS.full), "content-length": "100001" },
      body: "Subject: x\r\n\r\nx\r\n",
    });
    expect(res.status).toBe(413);
  });

  it("refuses a body that grows past maxSize while streaming, and keeps nothing", async () => {
    const res = await api.app.request("/v1/messages/raw?from=a@sender.test&to=b@one.test", {
      method: "POST",
      headers: bearer(KEYS.full),
      body: chunked(["Subject: big\r\n\r\n", ...Array(30).fill(`${"x".repeat(4998)}\r\n`)]),
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    const bodies: string[] = [];
    for await (const id of api.bodyStore.list()) bodies.push(id);
    expect(bodies).toEqual([]);
  });
});
