// S3 and SQS for tests: s3rver and fauxqs started by the test, moto from scripts/services/aws.sh, or real endpoints
// named by the environment (ZR_TEST_S3_ENDPOINT, ZR_TEST_SQS_ENDPOINT, ZR_TEST_S3_BUCKET, ZR_TEST_AWS_REGION).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { DeleteQueueCommand, ListQueuesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { buildApp } from "fauxqs";
import { s3ClientFor, sqsClientFor } from "../../shared/adapters/aws/clients.ts";

export const TEST_REGION = "us-east-1";
/** s3rver checks signatures against these; moto and fauxqs accept any. */
export const TEST_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
export const MOTO_ENDPOINT = process.env.MOTO_ENDPOINT ?? "http://127.0.0.1:15000";

/** Lower-case, unique, valid as a bucket name, queue prefix and key prefix. */
export const uniqueName = (label: string) => `${label}-${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;

export function testS3(endpoint: string): S3Client {
  return s3ClientFor({ region: TEST_REGION, endpoint, credentials: TEST_CREDENTIALS });
}

export function testSqs(endpoint: string): SQSClient {
  return sqsClientFor({ region: TEST_REGION, endpoint, credentials: TEST_CREDENTIALS });
}

export interface Emulator {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * s3rver in a child process on a kernel-chosen port with a temp directory. A child, not in-process: its
 * ListObjectsV2 continuation tokens use DES, which OpenSSL 3 only offers with the legacy provider (a flag for the
 * whole process), and a body it receives must not count against the test process's memory.
 */
export async function startS3rver(): Promise<Emulator> {
  const dir = mkdtempSync(join(tmpdir(), "zr-s3rver-"));
  const bin = createRequire(import.meta.url).resolve("s3rver/bin/s3rver.js");
  const child = spawn(
    process.execPath,
    ["--openssl-legacy-provider", bin, "-d", dir, "-a", "127.0.0.1", "-p", "0", "--silent"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  // A test process that dies without calling stop() must not leave the server behind.
  const killChild = () => child.kill("SIGKILL");
  process.once("exit", killChild);
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error("s3rver did not start within 15 s")), 15_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${err.message}\n${out}`));
    };
    const read = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /S3rver listening on [^:\s]+:(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on("data", read);
    child.stderr!.on("data", read);
    child.once("error", fail);
    child.once("exit", (code) => fail(new Error(`s3rver exited with ${code}`)));
  });
  // A server that dies under a test shows as ECONNREFUSED there; say why it died, so a CI log explains it.
  let stopping = false;
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  child.once("exit", (code, signal) => {
    if (!stopping)
      console.error(`s3rver exited while in use (code ${code}, signal ${signal}); its last output:\n${output}`);
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      stopping = true;
      process.off("exit", killChild);
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

/** fauxqs (SQS) in this process, on 127.0.0.1 and a kernel-chosen port; all state in memory. */
export async function startFauxqs(): Promise<Emulator> {
  const app = buildApp({ logger: false, host: "127.0.0.1" });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  return { endpoint: address, stop: () => app.close() };
}

/** Throws a clear error unless moto answers: tests that need it fail, never skip. */
export async function assertMotoUp(): Promise<void> {
  const howTo = "run `bash scripts/services.sh up` as root (npm test does)";
  try {
    const res = await fetch(`${MOTO_ENDPOINT}/moto-api/`, { signal: AbortSignal.timeout(3_000) });
    if (res.ok) return;
    throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    throw new Error(`moto server not usable at ${MOTO_ENDPOINT} (${(err as Error).message}); ${howTo}`);
  }
}

/** S3/SQS named by the environment (real AWS, LocalStack, MinIO...), or undefined when none is named. */
export interface EnvTarget {
  name: string;
  /** New clients on each call (credentials from the SDK's default chain). */
  newS3(): S3Client;
  newSqs(): SQSClient;
  /** An existing bucket to use (real AWS), or undefined to create throwaway buckets. */
  bucket: string | undefined;
}

export function envTarget(): EnvTarget | undefined {
  const s3Endpoint = process.env.ZR_TEST_S3_ENDPOINT || undefined;
  const sqsEndpoint = process.env.ZR_TEST_SQS_ENDPOINT || undefined;
  const bucket = process.env.ZR_TEST_S3_BUCKET || undefined;
  if (!s3Endpoint && !sqsEndpoint && !bucket) return undefined;
  const region = process.env.ZR_TEST_AWS_REGION || process.env.AWS_REGION || TEST_REGION;
  return {
    name: `env: s3 ${s3Endpoint ?? "aws"}, sqs ${sqsEndpoint ?? "aws"}, ${region}`,
    newS3: () => s3ClientFor({ region, ...(s3Endpoint ? { endpoint: s3Endpoint } : {}) }),
    newSqs: () => sqsClientFor({ region, ...(sqsEndpoint ? { endpoint: sqsEndpoint } : {}) }),
    bucket,
  };
}

/** Makes every `commandName` call of this client fail as a 503 would, before it is sent (fault injection). */
export function failCommand(client: SQSClient, commandName: string): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === commandName) {
        throw Object.assign(new Error(`injected failure of ${commandName}`), {
          name: "ServiceUnavailable",
          $metadata: { httpStatusCode: 503 },
        });
      }
      return next(args);
    },
    { step: "initialize", name: `fail-${commandName}` },
  );
}

export async function createBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((err) => {
    if ((err as Error).name !== "BucketAlreadyOwnedByYou") throw err;
  });
}

/** Deletes every object under a prefix (long-lived servers such as moto keep everything in memory). */
export async function deletePrefix(s3: S3Client, bucket: string, prefix: string): Promise<void> {
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
    const objects = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (objects.length === 0) return;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }));
  }
}

export async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  await deletePrefix(s3, bucket, "");
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** Deletes the queues (and dead-letter queues) whose names start with the prefix. */
export async function deleteQueues(sqs: SQSClient, prefix: string): Promise<void> {
  const { QueueUrls = [] } = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }));
  await Promise.all(QueueUrls.map((QueueUrl) => sqs.send(new DeleteQueueCommand({ QueueUrl }))));
}

/** An endpoint nothing listens on (a kernel-chosen port, closed again): for outage tests. */
export function deadEndpoint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(`http://127.0.0.1:${port}`));
    });
  });
}
