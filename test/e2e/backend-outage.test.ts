// A shared backend going away: intake keeps its promises (accepted mail is durable, or the client hears 4xx) and
// the relay waits — never drops, never spins — then carries on by itself when the backend returns.
import { afterEach, describe, expect, it } from "vitest";
import { startThrowawayRedis, type ThrowawayRedis } from "../support/redis.ts";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

let world: World | undefined;
let redis: ThrowawayRedis | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
  await redis?.stop();
  redis = undefined;
});

describe("Redis (coordinator) outage", () => {
  it("accepts mail while Redis is down, holds delivery, reports degraded health, and delivers once it is back", async () => {
    redis = await startThrowawayRedis();
    const url = redis.url;
    world = await startWorld({ relay: { dbs: { redis: url } } });
    await redis.stop();
    await new Promise((r) => setTimeout(r, 300));

    const id = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["x@a.test"] },
      rfc822({ Subject: "held" }),
    );
    const health = await fetch(`${world.relay.apiUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: "degraded",
      degraded: [expect.stringMatching(/^coordinator:/)],
    });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(world.sink.messages).toHaveLength(0);
    expect((await world.relay.status(id)).deliveries[0]!.state).toBe("queued");

    await redis.start();
    const [msg] = await world.sink.waitForMessages(1, 20_000);
    expect(msg!.to).toEqual(["x@a.test"]);
    await world.relay.waitForStates(id, ["delivered"]);
    expect(await (await fetch(`${world.relay.apiUrl}/health`)).json()).toEqual({ status: "ok" });
  }, 40_000);
});
