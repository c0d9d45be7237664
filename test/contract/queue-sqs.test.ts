import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSqsQueue, type SqsQueueOptions } from "../../shared/adapters/queue/sqs.ts";
import type { MessageRecord } from "../../shared/domain/envelope.ts";
import type { Queue } from "../../shared/ports/queue.ts";
import {
  assertMotoUp,
  createBucket,
  deadEndpoint,
  deleteBucket,
  deletePrefix,
  deleteQueues,
  type Emulator,
  envTarget,
  failCommand,
  MOTO_ENDPOINT,
  startFauxqs,
  startS3rver,
  testS3,
  testSqs,
  uniqueName,
} from "../support/aws.ts";
import { describeQueueContract } from "./queue-contract.ts";

interface Clients {
  s3: S3Client;
  sqs: SQSClient;
}

interface Backend {
  /** New clients: the queue and its peer are two hosts that share nothing but the services. */
  newHost(): Clients;
  /** An existing bucket (real AWS); otherwise a throwaway one is made. */
  bucket?: string;
  stop?: () => Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Leases until something comes (SQS may answer a short poll with nothing) or the deadline passes. */
async function leaseSome(q: Queue, zone: string, until = Date.now() + 10_000) {
  for (;;) {
    const got = await q.lease(zone, { owner: "h1", limit: 5, leaseMs: 60_000, now: Date.now() });
    if (got.length > 0 || Date.now() > until) return got;
    await sleep(100);
  }
}

function message(id = uniqueName("m"), overrides: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id,
    bodyId: `b${id}`,
    from: "sender@example.test",
    size: 10,
    receivedAt: Date.now(),
    messageIdHeader: `<${id}@example.test>`,
    source: { interface: "api", name: "api" },
    ...overrides,
  };
}

/** The contract (and the SQS specifics) against one SQS + S3 pair: fresh queues and status prefix per test. */
function describeOn(name: string, open: () => Promise<Backend>) {
  describe(name, () => {
    let backend: Backend;
    let bucket: string;
    let hosts: Clients[] = [];
    const cleanups: (() => Promise<void>)[] = [];

    /** A queue on host 0 or 1; queues made with the same prefix share queues and status (two hosts). */
    function makeQueue(host: Clients, queuePrefix: string, extra: Partial<SqsQueueOptions> = {}): Queue {
      const { s3, sqs } = host;
      return createSqsQueue({ sqs, s3, statusBucket: bucket, queuePrefix, statusPrefix: `${queuePrefix}/`, ...extra });
    }
    const removeAll = (queuePrefix: string) => async () => {
      await deleteQueues(hosts[0]!.sqs, queuePrefix);
      await deletePrefix(hosts[0]!.s3, bucket, `${queuePrefix}/`);
    };

    beforeAll(async () => {
      backend = await open();
      hosts = [backend.newHost(), backend.newHost()];
      bucket = backend.bucket ?? uniqueName("zr-status");
      if (!backend.bucket) await createBucket(hosts[0]!.s3, bucket);
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });
    afterAll(async () => {
      if (!backend) return;
      if (!backend.bucket) await deleteBucket(hosts[0]!.s3, bucket).catch(() => {});
      for (const host of hosts) {
        host.s3.destroy();
        host.sqs.destroy();
      }
      await backend.stop?.();
    });

    describeQueueContract(name, async () => {
      const queuePrefix = uniqueName("zr");
      const queue = makeQueue(hosts[0]!, queuePrefix);
      const peer = makeQueue(hosts[1]!, queuePrefix);
      return { queue, peer, cleanup: removeAll(queuePrefix) };
    });

    it("hands out a delivery due later than SQS can delay only from its not-before time", async () => {
      const queuePrefix = uniqueName("zr");
      cleanups.push(removeAll(queuePrefix));
      // SQS delays at most 15 minutes; a 1 s limit here makes the carrier visible long before it is due.
      const q = makeQueue(hosts[0]!, queuePrefix, { maxDelaySeconds: 1 });
      const due = Date.now() + 3_000;
      await q.enqueue(message(), [
        { id: uniqueName("d"), zone: "z", recipient: "a@one.test", domain: "one.test", nextAttemptAt: due },
      ]);
      while (Date.now() < due - 300) {
        expect(await q.lease("z", { owner: "h1", limit: 5, leaseMs: 60_000, now: Date.now() })).toEqual([]);
        await sleep(200);
      }
      const leased = await leaseSome(q, "z", due + 10_000);
      expect(leased.map((d) => d.recipient)).toEqual(["a@one.test"]);
      expect(Date.now()).toBeGreaterThanOrEqual(due);
    });

    it("rejects an enqueue whose SQS send fails and leaves nothing half-queued", async () => {
      const queuePrefix = uniqueName("zr");
      cleanups.push(removeAll(queuePrefix));
      const failing = backend.newHost();
      const q = makeQueue(failing, queuePrefix);
      const d = () => ({ id: uniqueName("d"), zone: "z", recipient: "a@one.test", domain: "one.test" });
      await q.enqueue(message(), [d()]); // the zone's queue exists...
      failCommand(failing.sqs, "SendMessageBatchCommand"); // ...then SQS fails every send
      const refused = message();
      const claim = { scope: "key-1", key: uniqueName("idem"), expiresAt: Date.now() + 60_000 };
      await expect(q.enqueue(refused, [d()], claim)).rejects.toThrow(/injected failure/);
      expect(q.unhealthyReason()).toMatch(/injected failure/);
      const other = makeQueue(hosts[0]!, queuePrefix);
      expect(await other.getMessage(refused.id)).toBeUndefined();
      expect(await other.hasBody(refused.bodyId)).toBe(false);
      // The idempotency key was given back: the client's retry through a healthy host is accepted.
      const retry = message();
      expect(await other.enqueue(retry, [d()], claim)).toEqual({ created: true });
      const leased = await leaseSome(other, "z");
      expect(leased.map((x) => x.messageId)).not.toContain(refused.id);
      failing.s3.destroy();
      failing.sqs.destroy();
    });

    it("keeps SQS messages small: a huge subject travels in the status store only", async () => {
      const queuePrefix = uniqueName("zr");
      cleanups.push(removeAll(queuePrefix));
      const q = makeQueue(hosts[0]!, queuePrefix);
      const subject = "s".repeat(600_000); // larger than any SQS message
      const m = message(uniqueName("m"), { subject });
      await q.enqueue(m, [{ id: uniqueName("d"), zone: "z", recipient: "a@one.test", domain: "one.test" }]);
      expect((await q.getMessage(m.id))?.message.subject).toBe(subject);
      expect((await leaseSome(q, "z"))[0]?.message.subject).toBe(subject);
    });
  });
}

describeOn("sqs (fauxqs + s3rver)", async () => {
  const s3rver: Emulator = await startS3rver();
  const fauxqs: Emulator = await startFauxqs();
  return {
    newHost: () => ({ s3: testS3(s3rver.endpoint), sqs: testSqs(fauxqs.endpoint) }),
    stop: async () => {
      await fauxqs.stop();
      await s3rver.stop();
    },
  };
});

describeOn("sqs (moto)", async () => {
  await assertMotoUp();
  return { newHost: () => ({ s3: testS3(MOTO_ENDPOINT), sqs: testSqs(MOTO_ENDPOINT) }) };
});

const env = envTarget();
if (env) {
  describeOn(`sqs (${env.name})`, async () => ({
    newHost: () => ({ s3: env.newS3(), sqs: env.newSqs() }),
    ...(env.bucket ? { bucket: env.bucket } : {}),
  }));
}

describe("sqs queue health", () => {
  it("reports unhealthy for a while after SQS cannot be reached, so intake refuses at once", async () => {
    const endpoint = await deadEndpoint();
    const [s3, sqs] = [testS3(endpoint), testSqs(endpoint)];
    const q = createSqsQueue({ s3, sqs, statusBucket: "nowhere", queuePrefix: "zr" });
    await expect(
      q.enqueue(message(), [{ id: uniqueName("d"), zone: "z", recipient: "a@one.test", domain: "one.test" }]),
    ).rejects.toThrow();
    expect(q.unhealthyReason()).toMatch(/sqs/);
    s3.destroy();
    sqs.destroy();
  });
});
