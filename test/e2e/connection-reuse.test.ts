// Outbound connections are reused while work keeps coming: lanes that run out of work linger, and new work that
// wakes them all (one takes it) does not make the others give up their connections, to be opened again next time.
import { afterEach, describe, expect, it } from "vitest";
import { startWorld, type World } from "../support/world.ts";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("outbound connection reuse", () => {
  it("keeps a steady flow to one domain on about as many connections as lanes", async () => {
    const lanes = 10;
    world = await startWorld({
      sink: { discardBody: true },
      relay: { zones: { default: { connections: lanes } }, domainConfig: { default: { maxConnections: lanes } } },
    });
    const { apiUrl } = world.relay;
    // Eight clients submitting back to back: work arrives a message at a time, faster than one lane sends it.
    const perClient = 30;
    await Promise.all(
      Array.from({ length: 8 }, async (_, c) => {
        for (let i = 0; i < perClient; i++) {
          const res = await fetch(`${apiUrl}/v1/messages`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ from: "app@sender.test", to: `u${c}-${i}@a.test`, subject: "flow", text: "Hi" }),
          });
          expect(res.status).toBe(202);
          // Pauses of 0-20 ms: lanes run out of work now and then and linger, as they do under a real flow.
          await new Promise((r) => setTimeout(r, (c * 7 + i * 13) % 21));
        }
      }),
    );
    await world.sink.waitForMessages(8 * perClient);
    // Before: 31 connections here (every lane that ended closed all idle ones of the domain; woken lanes that found
    // the new work taken ended at once); with only the first fixed, 21.
    expect(world.sink.connections, "connections opened to the sink").toBeLessThanOrEqual(lanes * 2);
  });
});
