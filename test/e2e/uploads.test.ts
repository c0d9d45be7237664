// The upload flow on the Node server (fs body store): the URL it hands out is its own, reachable as given, and an
// uploaded message is delivered like any other.
import { afterEach, describe, expect, it } from "vitest";
import { startWorld, type World } from "../support/world.ts";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("POST /v1/uploads on the Node server", () => {
  it("hands out a URL of this server; the PUT message is submitted by id and delivered", async () => {
    world = await startWorld();
    const api = world.relay.apiUrl;
    const created = await fetch(`${api}/v1/uploads`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(created.status).toBe(201);
    const target = (await created.json()) as { id: string; url: string; headers: Record<string, string> };
    expect(target.url.startsWith(`${api}/v1/uploads/${target.id}?`)).toBe(true);

    const body = `${"x".repeat(998)}\r\n`.repeat(3000); // 3 MB
    const message = `From: app@sender.test\r\nTo: big@a.test\r\nSubject: Uploaded\r\n\r\n${body}`;
    const put = await fetch(target.url, { method: "PUT", headers: target.headers, body: message });
    expect(put.status).toBe(200);

    const res = await fetch(`${api}/v1/messages/raw?upload=${target.id}&from=app@sender.test&to=big@a.test`, {
      method: "POST",
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await world.relay.waitForStates(id, ["delivered"]);
    const got = world.sink.messages.find((m) => m.to[0] === "big@a.test")!;
    expect(got.raw.toString("latin1")).toContain("Subject: Uploaded\r\n");
    expect(got.raw.length).toBeGreaterThan(3_000_000);
  }, 60_000);
});
