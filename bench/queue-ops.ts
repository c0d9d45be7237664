// bench/queue-ops: enqueue + lease + complete cycles per second for each Queue adapter on this machine, through
// the same port the relay uses. A report, not a test. Prints one line:
//   queue-ops n=500 local=… mongo=… sqs=… (cycles/s) mongo/local=… sqs/local=…
// Needs the test services (`bash scripts/services.sh up`): FerretDB (or MONGO_URL) and moto (or MOTO_ENDPOINT).
// Usage: npx tsx bench/queue-ops.ts [N] [--only local,mongo,sqs]
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { MongoClient } from "mongodb";
import { s3ClientFor, sqsClientFor } from "../shared/adapters/aws/clients.ts";
import { createLocalQueue } from "../shared/adapters/queue/local.ts";
import { createMongoQueue } from "../shared/adapters/queue/mongo.ts";
import { createSqsQueue } from "../shared/adapters/queue/sqs.ts";
import type { MessageRecord } from "../shared/domain/envelope.ts";
import type { Queue } from "../shared/ports/queue.ts";

const N = Number(process.argv[2] ?? 500);
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1]!.split(",") : undefined;
const MONGO_URL = process.env.MONGO_URL ?? "mongodb://127.0.0.1:27018/";
const MOTO = process.env.MOTO_ENDPOINT ?? "http://127.0.0.1:15000";
const BATCH = 10;

interface Target {
  name: string;
  open(): Promise<{ queue: Queue; close(): Promise<void> }>;
}

const targets: Target[] = [
  {
    name: "local",
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "zr-bench-q-"));
      const queue = createLocalQueue({ path: join(dir, "q.sqlite") });
      const close = async () => {
        await queue.close();
        rmSync(dir, { recursive: true, force: true });
      };
      return { queue, close };
    },
  },
  {
    name: "mongo",
    async open() {
      const client = await new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 5_000 }).connect();
      const db = client.db(`zr_bench_${randomBytes(4).toString("hex")}`);
      const queue = await createMongoQueue({ db });
      const close = async () => {
        await queue.close();
        await db.dropDatabase();
        await client.close();
      };
      return { queue, close };
    },
  },
  {
    name: "sqs",
    async open() {
      process.env.AWS_ACCESS_KEY_ID ??= "bench";
      process.env.AWS_SECRET_ACCESS_KEY ??= "bench";
      const s3 = s3ClientFor({ region: "us-east-1", endpoint: MOTO, forcePathStyle: true });
      const sqs = sqsClientFor({ region: "us-east-1", endpoint: MOTO });
      const bucket = `zr-bench-${randomBytes(4).toString("hex")}`;
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const queue = createSqsQueue({ sqs, s3, statusBucket: bucket, queuePrefix: bucket });
      const close = async () => {
        await queue.close();
        s3.destroy();
        sqs.destroy();
      };
      return { queue, close };
    },
  },
];

function message(i: number): MessageRecord {
  const id = `bench${Date.now().toString(36)}${i.toString(36)}${randomBytes(3).toString("hex")}`;
  return {
    id,
    bodyId: id,
    from: "bench@example.test",
    size: 4096,
    receivedAt: Date.now(),
    messageIdHeader: `<${id}@example.test>`,
    source: { interface: "smtp", name: "bench" },
  };
}

/** N messages of one delivery each: enqueue, lease (in batches), complete as delivered. Returns cycles/s. */
async function run(queue: Queue): Promise<number> {
  const zone = `b${randomBytes(3).toString("hex")}`;
  const started = process.hrtime.bigint();
  for (let i = 0; i < N; i += BATCH) {
    const count = Math.min(BATCH, N - i);
    await Promise.all(
      Array.from({ length: count }, (_, k) => {
        const m = message(i + k);
        return queue.enqueue(m, [
          { id: `d${m.id}`, zone, recipient: `r${i + k}@example.test`, domain: "example.test" },
        ]);
      }),
    );
    let leased = 0;
    const deadline = Date.now() + 30_000;
    while (leased < count && Date.now() < deadline) {
      const got = await queue.lease(zone, { owner: "bench", limit: count - leased, leaseMs: 60_000, now: Date.now() });
      leased += got.length;
      await Promise.all(
        got.map((d) =>
          queue.complete(d.id, "bench", {
            outcome: "delivered",
            attempt: { deliveryId: d.id, at: Date.now(), durationMs: 1, outcome: "delivered", response: "250 ok" },
          }),
        ),
      );
    }
    if (leased < count) throw new Error(`leased ${leased} of ${count}`);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return N / seconds;
}

const results: Record<string, number> = {};
for (const target of targets) {
  if (only && !only.includes(target.name)) continue;
  try {
    const { queue, close } = await target.open();
    try {
      results[target.name] = await run(queue);
    } finally {
      await close();
    }
  } catch (err) {
    console.error(`queue-ops: ${target.name} skipped: ${(err as Error).message}`);
  }
}
const fmt = (n: number) => n.toFixed(1);
const ratios = Object.entries(results)
  .filter(([name]) => name !== "local" && results.local)
  .map(([name, value]) => `${name}/local=${(value / results.local!).toFixed(3)}`);
console.log(
  `queue-ops n=${N} ${Object.entries(results)
    .map(([k, v]) => `${k}=${fmt(v)}`)
    .join(" ")} (cycles/s) ${ratios.join(" ")}`,
);
process.exit(0);
