// BodyStore on S3 (or an S3-compatible server): one object per body, streamed in as a multipart upload.

import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { BodyStore } from "../../ports/body-store.ts";
import { type Clock, systemClock } from "../../ports/clock.ts";
import { isNotFound, stickyHealth } from "../aws/errors.ts";

export { s3ClientFor } from "../aws/clients.ts";

const ID_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;
/** 8 MiB parts, two in flight: at most ~16 MiB of a body is in memory whatever its size (S3's minimum part is 5 MiB). */
const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;

export interface S3BodyStoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix, e.g. "bodies/"; the id follows it. */
  prefix?: string;
  partSize?: number;
  partsInFlight?: number;
  clock?: Clock;
}

export function createS3BodyStore(options: S3BodyStoreOptions): BodyStore {
  const { client, bucket } = options;
  const prefix = options.prefix ?? "bodies/";
  const health = stickyHealth(`s3://${bucket}/${prefix}`, options.clock ?? systemClock);

  const keyOf = (id: string) => {
    if (!ID_PATTERN.test(id)) throw new Error(`invalid body id ${JSON.stringify(id)}`);
    return `${prefix}${id}`;
  };

  return {
    async put(id, body) {
      const Key = keyOf(id);
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          done(null, chunk);
        },
      });
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key, Body: counter, ContentType: "message/rfc822" },
        partSize: options.partSize ?? PART_SIZE,
        queueSize: options.partsInFlight ?? PARTS_IN_FLIGHT,
        // On any failure the multipart upload is aborted, so no parts linger (and cost) in the bucket.
        leavePartsOnError: false,
      });
      // Either failure ends both sides, with the same error: a failing source destroys the counter (pipeline),
      // which fails the uploader's read; a failing upload destroys the counter, which stops the pipeline instead of
      // leaving it blocked on backpressure. Whichever failed first is to blame — only S3's failures make the store
      // unhealthy (a client that hangs up mid-body with ECONNRESET must not).
      if (body.errored) throw body.errored;
      let sourceFailed = false;
      let s3Failed = false;
      body.once("error", () => {
        if (!s3Failed) sourceFailed = true;
      });
      const feeding = pipeline(body, counter);
      const uploading = upload.done();
      uploading.catch((err) => {
        if (!sourceFailed) s3Failed = true;
        counter.destroy(err);
      });
      // The object exists only once CompleteMultipartUpload (or the single PutObject) succeeded; S3 has stored it
      // redundantly before it answers, which is our "durable". Both sides settle before we answer, so a failed
      // put has finished aborting its multipart upload when it rejects.
      const [fed, uploaded] = await Promise.allSettled([feeding, uploading]);
      if (sourceFailed && fed.status === "rejected") throw fed.reason;
      if (uploaded.status === "rejected") throw s3Failed ? health.note(uploaded.reason) : uploaded.reason;
      if (fed.status === "rejected") throw fed.reason;
      return { size };
    },

    async get(id) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(id) }));
        const stream = out.Body;
        if (stream instanceof Readable) return stream;
        return Readable.fromWeb(stream as never);
      } catch (err) {
        if (isNotFound(err)) throw Object.assign(new Error(`body ${id} not found`), { code: "ENOENT" });
        throw health.note(err);
      }
    },

    async delete(id) {
      // DeleteObject of a missing key succeeds: idempotent by nature.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: keyOf(id) })).catch((err) => {
        throw health.note(err);
      });
    },

    async *list() {
      let ContinuationToken: string | undefined;
      do {
        const page = await client
          .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }))
          .catch((err) => {
            throw health.note(err);
          });
        for (const object of page.Contents ?? []) {
          const id = object.Key?.slice(prefix.length);
          if (id && ID_PATTERN.test(id)) yield id;
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
    },

    unhealthyReason: () => health.reason(),

    async close() {},
  };
}
