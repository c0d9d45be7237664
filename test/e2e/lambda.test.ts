// The cloud path, locally: the Lambda handler (functions/lambda.ts) invoked in-process with function-URL events
// against S3 and SQS emulators (s3rver + fauxqs, started here), a message larger than Lambda's 6 MB request limit
// sent through the upload flow, then a relay on the same S3 + SQS config drains the zone queues into the sink;
// status is read back through the handler.
import { generateKeyPairSync } from "node:crypto";
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../functions/auth.ts";
import { createLambdaApi, type LambdaApi } from "../../functions/lambda.ts";
import { intakeConfig } from "../../infra/plan/host-config.ts";
import { parseConfig } from "../../shared/config/load.ts";
import type { ConfigInput } from "../../shared/config/schema.ts";
import type { MessageStatus } from "../../shared/domain/envelope.ts";
import { dnsRecordFor } from "../../shared/mail/dkim/keys.ts";
import {
  assertMotoUp,
  createBucket,
  type Emulator,
  MOTO_ENDPOINT,
  startFauxqs,
  startS3rver,
  TEST_CREDENTIALS,
  testS3,
  uniqueName,
} from "../support/aws.ts";
import { mailauthDkim } from "../support/dkim-verifiers.ts";
import { invokeUrl, LAMBDA_PAYLOAD_LIMIT } from "../support/lambda.ts";
import { startWorld, type World } from "../support/world.ts";

const API_KEY = "zr_live_lambda_test_key_0001";
const ed = generateKeyPairSync("ed25519").privateKey;

let s3: Emulator;
let sqs: Emulator;
let lambda: LambdaApi;
let world: World;

/** What the intake and the relay share: backends, zones and DKIM keys — one config, two roles. */
let shared: ConfigInput;
let bucket: string;

beforeAll(async () => {
  // The SDK's default credential chain reads these (as a function's role would provide them); s3rver checks them.
  process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
  [s3, sqs] = await Promise.all([startS3rver(), startFauxqs()]);
  bucket = uniqueName("zr-lambda");
  await createBucket(testS3(s3.endpoint), bucket);
  shared = {
    hostname: "intake.zonerelay.test",
    queue: { backend: "sqs" },
    aws: { s3Endpoint: s3.endpoint, sqsEndpoint: sqs.endpoint, bucket, queuePrefix: uniqueName("zr") },
    zones: { default: {}, bulk: { senderDomains: ["news.sender.test"] } },
    dkim: {
      keys: [
        {
          domain: "sender.test",
          selector: "lambda",
          privateKey: ed.export({ type: "pkcs8", format: "pem" }).toString(),
        },
      ],
    },
  };
  lambda = await createLambdaApi({
    config: parseConfig({
      ...shared,
      log: { level: process.env.TEST_LOG_LEVEL ?? "silent" },
      api: { keys: [{ id: "app", hash: `sha256:${sha256Hex(API_KEY)}` }], maxSize: "20MB" },
    }),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  });
  world = await startWorld({
    relay: (sink) => ({
      ...shared,
      zones: {
        default: {},
        bulk: {
          senderDomains: ["news.sender.test"],
          port: sink.port,
          timeouts: { connect: "5s", greeting: "5s", socket: "20s" },
        },
      },
    }),
  });
  world.dns.set("lambda._domainkey.sender.test", { TXT: [dnsRecordFor(ed)] });
}, 60_000);

afterAll(async () => {
  await world?.close();
  await lambda?.close();
  await sqs?.stop();
  await s3?.stop();
});

const auth = { authorization: `Bearer ${API_KEY}` };

async function waitDelivered(id: string, count: number): Promise<MessageStatus> {
  const deadline = Date.now() + 40_000;
  let last: MessageStatus | undefined;
  while (Date.now() < deadline) {
    const res = await invokeUrl(lambda.handler, { method: "GET", path: `/v1/messages/${id}`, headers: auth });
    // s3rver writes an object in place (real S3 and moto replace it atomically), so a status read that races the
    // relay's record write can see half a JSON document: a 500 here is the emulator's, and the poll goes on.
    const torn = res.status === 500 && res.json<{ type: string }>().type === "urn:zonerelay:problem:internal";
    if (!torn) {
      expect(res.status).toBe(200);
      last = res.json<MessageStatus>();
      if (last.deliveries.length === count && last.deliveries.every((d) => d.state === "delivered")) return last;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`message ${id} not delivered: ${JSON.stringify(last?.deliveries)}`);
}

describe("the Lambda intake on S3 + SQS, drained by a relay", () => {
  it("queues a JSON message per zone; the relay delivers it; status comes back through the handler", async () => {
    const res = await invokeUrl(lambda.handler, {
      method: "POST",
      path: "/v1/messages",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({
        from: "app@sender.test",
        to: ["one@a.test", "two@b.test"],
        subject: "From Lambda",
        text: "Hi",
      }),
    });
    expect(res.status).toBe(202);
    const { id } = res.json<{ id: string }>();
    const status = await waitDelivered(id, 2);
    // The client address is the function URL's sourceIp.
    expect((status as MessageStatus & { source: unknown }).source).toMatchObject({
      interface: "api",
      user: "app",
      remoteAddress: "203.0.113.7",
    });
    const got = world.sink.messages.filter((m) => m.raw.toString().includes("Subject: From Lambda"));
    expect(got.map((m) => m.to[0]).sort()).toEqual(["one@a.test", "two@b.test"]);

    // A raw message arrives base64-encoded in the event (not a text type for function URLs).
    const raw = await invokeUrl(lambda.handler, {
      method: "POST",
      path: "/v1/messages/raw?from=app@sender.test&to=three@a.test",
      headers: { ...auth, "content-type": "message/rfc822" },
      body: "From: app@sender.test\r\nSubject: Raw via Lambda\r\n\r\nÜmlaut body\r\n",
    });
    expect(raw.status).toBe(202);
    await waitDelivered(raw.json<{ id: string }>().id, 1);
    const rawGot = world.sink.messages.find((m) => m.to[0] === "three@a.test")!;
    expect(rawGot.raw.toString("utf8")).toMatch(/^Subject: Raw via Lambda\r\n(.+\r\n)*\r\nÜmlaut body\r\n$/m);
  }, 60_000);

  it("takes a message over 6 MB through the upload flow, with the same headers, limits and DKIM as any other", async () => {
    const line = `${"0123456789".repeat(7)}\r\n`; // 72 bytes
    const body = line.repeat(Math.ceil((7 * 1024 * 1024) / line.length));
    const message = `From: News <news@news.sender.test>\r\nTo: ann@a.test\r\nSubject: Seven megabytes\r\n\r\n${body}END\r\n`;
    expect(Buffer.byteLength(message)).toBeGreaterThan(LAMBDA_PAYLOAD_LIMIT);

    // Straight to the function it cannot go: AWS refuses the payload before the handler runs.
    const direct = await invokeUrl(lambda.handler, {
      method: "POST",
      path: "/v1/messages/raw?from=news@news.sender.test&to=ann@a.test",
      headers: { ...auth, "content-type": "message/rfc822" },
      body: message,
    });
    expect(direct.status).toBe(413);

    const created = await invokeUrl(lambda.handler, {
      method: "POST",
      path: "/v1/uploads",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ size: Buffer.byteLength(message) }),
    });
    expect(created.status).toBe(201);
    const target = created.json<{ id: string; url: string; headers: Record<string, string> }>();
    // A presigned S3 URL: the bytes go to the bucket, never through the function.
    expect(target.url.startsWith(s3.endpoint)).toBe(true);
    expect(target.url).toMatch(/X-Amz-Signature=/);
    const put = await fetch(target.url, { method: "PUT", headers: target.headers, body: message });
    expect(put.status).toBe(200);

    const res = await invokeUrl(lambda.handler, {
      method: "POST",
      path: `/v1/messages/raw?upload=${target.id}&from=news@news.sender.test&to=ann@a.test`,
      headers: auth,
    });
    expect(res.status).toBe(202);
    const { id } = res.json<{ id: string }>();
    const status = await waitDelivered(id, 1);
    // Routed by sender domain to the bulk zone's own queue, as the intake decided.
    expect(status.deliveries[0]!.zone).toBe("bulk");

    const delivered = world.sink.messages.find((m) => m.raw.toString("latin1").includes("Subject: Seven megabytes"));
    expect(delivered).toBeDefined();
    const raw = delivered!.raw;
    expect(raw.length).toBeGreaterThan(7 * 1024 * 1024);
    expect(raw.toString("latin1")).toMatch(/\r\nEND\r\n$/);
    const head = raw.subarray(0, raw.indexOf("\r\n\r\n")).toString("latin1");
    expect(head).toMatch(/^Received: from .*\r\n\tby intake\.zonerelay\.test \(ZoneRelay\) with HTTP/m);
    expect(head).toMatch(/^Message-ID: </m);
    // The body hash was made at the Lambda intake while the upload streamed into the store; the relay signed with it.
    expect(await mailauthDkim(raw, world.dns.nameserver, "news@news.sender.test")).toEqual(["sender.test/lambda=pass"]);

    // Submitted uploads are removed from staging.
    const again = await invokeUrl(lambda.handler, {
      method: "POST",
      path: `/v1/messages/raw?upload=${target.id}&from=news@news.sender.test&to=ann@a.test`,
      headers: auth,
    });
    expect(again.status).toBe(404);
  }, 90_000);

  it("refuses an upload that grew past api.maxSize at submission (S3 cannot cap an unannounced PUT)", async () => {
    const created = await invokeUrl(lambda.handler, {
      method: "POST",
      path: "/v1/uploads",
      headers: { ...auth, "content-type": "application/json" },
      body: "{}",
    });
    const target = created.json<{ id: string; url: string; headers: Record<string, string> }>();
    const huge = `Subject: too big\r\n\r\n${"x".repeat(21 * 1024 * 1024)}\r\n`;
    expect((await fetch(target.url, { method: "PUT", headers: target.headers, body: huge })).status).toBe(200);
    const res = await invokeUrl(lambda.handler, {
      method: "POST",
      path: `/v1/messages/raw?upload=${target.id}&from=app@sender.test&to=ann@a.test`,
      headers: auth,
    });
    expect(res.status).toBe(413);
  }, 60_000);

  it("runs on the config the stack renders into SSM (infra/plan/host-config.ts), as deployed", async () => {
    await assertMotoUp(); // SSM Parameter Store, as the function reads it
    const aws = shared.aws as { queuePrefix: string };
    const rendered = intakeConfig(
      { hostname: shared.hostname, zones: shared.zones, log: { level: process.env.TEST_LOG_LEVEL ?? "silent" } },
      {
        region: "us-east-1",
        bucket,
        queuePrefix: aws.queuePrefix,
        apiKeys: [{ id: "deployed", hash: `sha256:${sha256Hex(API_KEY)}` }],
        dkimKeys: (shared.dkim as { keys: unknown[] }).keys,
      },
    );
    const ssm = new SSMClient({ region: "us-east-1", endpoint: MOTO_ENDPOINT, credentials: TEST_CREDENTIALS });
    const name = `/zonerelay/${uniqueName("e2e")}/intake`;
    await ssm.send(new PutParameterCommand({ Name: name, Type: "SecureString", Value: JSON.stringify(rendered) }));
    // What infra/intake.ts sets, plus the emulators' endpoints (the rendered config names real AWS).
    const env = {
      AWS_REGION: "us-east-1", // Lambda's runtime sets it
      ZONERELAY_CONFIG_PARAMETER: name,
      AWS_ENDPOINT_URL_SSM: MOTO_ENDPOINT,
      ZONERELAY__aws__s3Endpoint: s3.endpoint,
      ZONERELAY__aws__sqsEndpoint: sqs.endpoint,
    };
    const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    let deployed: LambdaApi | undefined;
    try {
      deployed = await createLambdaApi({ logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }) });
      const res = await invokeUrl(deployed.handler, {
        method: "POST",
        path: "/v1/messages",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ from: "app@sender.test", to: "deployed@a.test", subject: "Deployed", text: "x" }),
      });
      expect(res.status).toBe(202);
      const status = await waitDelivered(res.json<{ id: string }>().id, 1);
      expect((status as MessageStatus & { source: { user: string } }).source.user).toBe("deployed");
    } finally {
      for (const [key, value] of Object.entries(before)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      await deployed?.close();
      await ssm.send(new DeleteParameterCommand({ Name: name })).catch(() => {});
      ssm.destroy();
    }
  }, 60_000);
});
