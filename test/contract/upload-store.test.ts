import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { s3ClientFor } from "../../shared/adapters/aws/clients.ts";
import { createFsUploadStore } from "../../shared/adapters/upload-store/fs.ts";
import { createS3UploadStore } from "../../shared/adapters/upload-store/s3.ts";
import { createBucket, type Emulator, startS3rver, TEST_CREDENTIALS, TEST_REGION, uniqueName } from "../support/aws.ts";
import { acceptVia, describeUploadStoreContract } from "./upload-store-contract.ts";

describeUploadStoreContract("fs (this API's own signed URL)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "zr-uploads-"));
  const store = await createFsUploadStore({ dir, ttlMs: 60_000, expireAfterMs: 86_400_000 });
  return {
    store,
    put: acceptVia(store),
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

let s3rver: Emulator;
let bucket: string;
beforeAll(async () => {
  s3rver = await startS3rver();
  bucket = uniqueName("zr-uploads");
  await createBucket(
    s3ClientFor({ region: TEST_REGION, endpoint: s3rver.endpoint, credentials: TEST_CREDENTIALS }),
    bucket,
  );
});
afterAll(() => s3rver?.stop());

describeUploadStoreContract("s3 (presigned PUT, on s3rver)", async () => {
  const client = s3ClientFor({ region: TEST_REGION, endpoint: s3rver.endpoint, credentials: TEST_CREDENTIALS });
  const store = createS3UploadStore({ client, bucket, prefix: `${uniqueName("u")}/`, ttlMs: 60_000 });
  return {
    store,
    async put(target, body) {
      const res = await fetch(target.url, { method: "PUT", headers: target.headers, body });
      if (!res.ok) throw new Error(`PUT answered ${res.status}: ${await res.text()}`);
    },
    close: async () => client.destroy(),
  };
});
