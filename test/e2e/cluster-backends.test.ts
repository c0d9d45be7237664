// The relay end to end on each cluster backend configuration — MongoDB (GridFS + queue) with Redis, and S3 + SQS —
// through the same intake, status API, delivery and DSN paths as the embedded mode; and a backend that is down at
// intake answers 451 / 503 with Retry-After, never 250 and never a lost message.
import { randomBytes } from "node:crypto";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { MongoClient } from "mongodb";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../shared/config/schema.ts";
import {
  assertMotoUp,
  type Emulator,
  MOTO_ENDPOINT,
  startFauxqs,
  startS3rver,
  TEST_CREDENTIALS,
  testS3,
  uniqueName,
} from "../support/aws.ts";
import { MONGO_URL } from "../support/mongo.ts";
import { REDIS_URL } from "../support/redis.ts";
import { type SmtpTalk, smtpTalk } from "../support/smtp-talk.ts";
import { rfc822, sendSmtp, startWorld, type World } from "../support/world.ts";

let world: World | undefined;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await world?.close();
  world = undefined;
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

beforeAll(() => {
  // The SDK's default credential chain reads these; the emulators accept them.
  process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
});

async function mongoConfig(): Promise<ConfigInput> {
  const dbName = `zr_e2e_${randomBytes(4).toString("hex")}`;
  const url = new URL(MONGO_URL);
  url.pathname = `/${dbName}`;
  cleanups.push(async () => {
    const client = new MongoClient(MONGO_URL);
    await client.db(dbName).dropDatabase();
    await client.close();
  });
  return { queue: { backend: "mongo" }, dbs: { mongo: url.toString(), redis: REDIS_URL, redisPrefix: `${dbName}:` } };
}

async function awsConfig(endpoint: string): Promise<ConfigInput> {
  const bucket = uniqueName("zr-e2e");
  await testS3(endpoint).send(new CreateBucketCommand({ Bucket: bucket }));
  return { queue: { backend: "sqs" }, aws: { endpoint, bucket, queuePrefix: uniqueName("zr") } };
}

async function exercise(over: ConfigInput) {
  world = await startWorld({ relay: over });
  const ok = await sendSmtp(
    world.relay.smtpPort,
    { from: "app@sender.test", to: ["one@a.test", "two@b.test"] },
    rfc822({ Subject: "cluster backend" }, "Body through the backend.\r\n"),
  );
  const status = await world.relay.waitForStates(ok, ["delivered", "delivered"]);
  expect((status as unknown as { subject: string }).subject).toBe("cluster backend");
  const bodies = world.sink.messages.map((m) => m.raw.toString());
  expect(bodies.every((b) => b.includes("Body through the backend."))).toBe(true);

  const bounced = await sendSmtp(
    world.relay.smtpPort,
    { from: "app@sender.test", to: ["permfail@a.test"] },
    rfc822({ Subject: "nobody" }),
  );
  await world.relay.waitForStates(bounced, ["bounced"]);
  const messages = await world.sink.waitForMessages(3, 20_000);
  expect(messages.some((m) => m.from === "" && m.to[0] === "app@sender.test")).toBe(true);
}

describe("the relay on cluster backends", () => {
  it("MongoDB (queue + GridFS) with Redis: delivers, reports status, bounces with a DSN", async () => {
    await exercise(await mongoConfig());
  }, 60_000);

  it("S3 + SQS (moto): delivers, reports status, bounces with a DSN", async () => {
    await assertMotoUp();
    await exercise(await awsConfig(MOTO_ENDPOINT));
  }, 60_000);
});

describe("a queue backend down at intake", () => {
  it("answers SMTP 451 and HTTP 503 with Retry-After while SQS is unreachable, and accepts again when it returns", async () => {
    const s3: Emulator = await startS3rver();
    let sqs: Emulator = await startFauxqs();
    cleanups.push(() => s3.stop());
    const bucket = uniqueName("zr-outage");
    await testS3(s3.endpoint).send(new CreateBucketCommand({ Bucket: bucket }));
    world = await startWorld({
      relay: {
        queue: { backend: "sqs" },
        aws: { s3Endpoint: s3.endpoint, sqsEndpoint: sqs.endpoint, bucket, queuePrefix: uniqueName("zr") },
      },
    });
    const first = await sendSmtp(
      world.relay.smtpPort,
      { from: "app@sender.test", to: ["a@a.test"] },
      rfc822({ Subject: "before" }),
    );
    await world.relay.waitForStates(first, ["delivered"]);

    const port = Number(new URL(sqs.endpoint).port);
    await sqs.stop();
    const talk: SmtpTalk = await smtpTalk(world.relay.smtpPort);
    cleanups.push(async () => talk.close());
    await talk.send("EHLO client.test");
    await talk.send("MAIL FROM:<app@sender.test>");
    await talk.send("RCPT TO:<b@a.test>");
    await talk.send("DATA");
    expect(await talk.send("Subject: during\r\n\r\nx\r\n.")).toMatch(/^451 4\.3\.0 /);

    const res = await fetch(`${world.relay.apiUrl}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ from: "app@sender.test", to: "c@a.test", subject: "during", text: "x" }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(res.headers.get("content-type")).toMatch(/application\/problem\+json/);

    // SQS is back on the same address: the relay carries on by itself.
    sqs = await startFauxqsOn(port);
    cleanups.push(() => sqs.stop());
    // Like any SMTP client, retry after a 451: the relay refuses quickly while it still sees the outage.
    let after: string | undefined;
    const deadline = Date.now() + 30_000;
    while (!after && Date.now() < deadline) {
      after = await sendSmtp(
        world.relay.smtpPort,
        { from: "app@sender.test", to: ["d@a.test"] },
        rfc822({ Subject: "after" }),
      ).catch((err: Error) => {
        expect(err.message).toMatch(/451 4\.3\.0/);
        return new Promise<undefined>((r) => setTimeout(() => r(undefined), 1_000));
      });
    }
    if (!after) throw new Error("the relay never accepted again after SQS returned");
    await world.relay.waitForStates(after, ["delivered"], 30_000);
    expect(world.sink.messages.map((m) => m.to[0]).sort()).toEqual(["a@a.test", "d@a.test"]);
  }, 90_000);
});

async function startFauxqsOn(port: number): Promise<Emulator> {
  const { buildApp } = await import("fauxqs");
  const app = buildApp({ logger: false, host: "127.0.0.1" });
  const endpoint = await app.listen({ port, host: "127.0.0.1" });
  return { endpoint, stop: () => app.close() };
}
