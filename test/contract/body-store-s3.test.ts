import { Readable } from "node:stream";
import { ListMultipartUploadsCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3BodyStore } from "../../shared/adapters/body-store/s3.ts";
import {
  assertMotoUp,
  createBucket,
  deadEndpoint,
  deleteBucket,
  deletePrefix,
  type Emulator,
  envTarget,
  MOTO_ENDPOINT,
  startS3rver,
  testS3,
  uniqueName,
} from "../support/aws.ts";
import { describeBodyStoreContract } from "./body-store-contract.ts";

interface Target {
  s3: S3Client;
  /** An existing bucket (real AWS); otherwise a throwaway one is made. */
  bucket?: string;
  /** s3rver answers ListMultipartUploads with 501 NotImplemented. */
  listsUploads: boolean;
  stop?: () => Promise<void>;
}

/** The contract (and the S3 specifics) against one S3: a fresh key prefix per test. */
function describeOn(name: string, open: () => Promise<Target>) {
  describe(name, () => {
    let target: Target;
    let bucket: string;
    beforeAll(async () => {
      target = await open();
      bucket = target.bucket ?? uniqueName("zr-bodies");
      if (!target.bucket) await createBucket(target.s3, bucket);
    });
    afterAll(async () => {
      if (!target) return;
      if (!target.bucket) await deleteBucket(target.s3, bucket).catch(() => {});
      target.s3.destroy();
      await target.stop?.();
    });

    describeBodyStoreContract(name, async () => {
      const prefix = `${uniqueName("bodies")}/`;
      return {
        store: createS3BodyStore({ client: target.s3, bucket, prefix }),
        cleanup: () => deletePrefix(target.s3, bucket, prefix),
      };
    });

    it("aborts the multipart upload when the stream fails after some parts were sent", async () => {
      const prefix = `${uniqueName("bodies")}/`;
      const store = createS3BodyStore({ client: target.s3, bucket, prefix, partSize: 5 * 1024 * 1024 });
      const part = Buffer.alloc(1024 * 1024, 7);
      async function* failing() {
        for (let i = 0; i < 12; i++) yield part; // two parts of 5 MiB are on their way
        throw Object.assign(new Error("client went away mid-body"), { code: "ECONNRESET" });
      }
      await expect(store.put("b-multipart-fail", Readable.from(failing()))).rejects.toThrow(/client went away/);
      await expect(store.get("b-multipart-fail")).rejects.toMatchObject({ code: "ENOENT" });
      if (target.listsUploads) {
        const open = await target.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
        expect(open.Uploads ?? []).toEqual([]);
      }
      expect(store.unhealthyReason()).toBeUndefined(); // the client's connection failed, not S3
    });
  });
}

describeOn("s3 (s3rver)", async () => {
  const server: Emulator = await startS3rver();
  return { s3: testS3(server.endpoint), listsUploads: false, stop: server.stop };
});

describeOn("s3 (moto)", async () => {
  await assertMotoUp();
  return { s3: testS3(MOTO_ENDPOINT), listsUploads: true };
});

const env = envTarget();
if (env) describeOn(`s3 (${env.name})`, async () => ({ s3: env.newS3(), bucket: env.bucket, listsUploads: true }));

describe("s3 body store health", () => {
  it("reports unhealthy for a while after S3 cannot be reached, so intake refuses at once", async () => {
    const s3 = testS3(await deadEndpoint());
    const store = createS3BodyStore({ client: s3, bucket: "nowhere" });
    const mib = Buffer.alloc(1024 * 1024);
    async function* body() {
      for (let i = 0; i < 20; i++) yield mib; // still streaming when the first part fails
    }
    await expect(store.put("b-unreachable", Readable.from(body()))).rejects.toThrow();
    expect(store.unhealthyReason()).toMatch(/s3:\/\/nowhere/);
    s3.destroy();
  });
});
