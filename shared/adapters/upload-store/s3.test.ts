import { describe, expect, it } from "vitest";
import { s3ClientFor } from "../aws/clients.ts";
import { createS3UploadStore } from "./s3.ts";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };

describe("S3 upload URLs (presigned locally, no request is made)", () => {
  it("sign the content type and length and carry no checksum of an empty body (aws-sdk-js-v3 #6810)", async () => {
    const store = createS3UploadStore({
      client: s3ClientFor({ region: "eu-west-1", credentials }),
      presigner: s3ClientFor({ region: "eu-west-1", credentials, checksumsWhenRequired: true }),
      bucket: "bodies",
      ttlMs: 900_000,
      clock: { now: () => Date.UTC(2026, 10, 25) },
    });
    const target = await store.create({
      owner: "app",
      contentType: "message/rfc822",
      size: 7_000_000,
      maxSize: 25_000_000,
      baseUrl: "https://unused",
    });
    const url = new URL(target.url);
    expect(url.host).toBe("bodies.s3.eu-west-1.amazonaws.com");
    expect(url.pathname).toMatch(/^\/uploads\/[0-9a-f]{16}\/[A-Za-z0-9_-]{22}$/);
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("content-length;content-type;host");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    expect(target).toMatchObject({ method: "PUT", headers: { "content-type": "message/rfc822" } });
  });
});
