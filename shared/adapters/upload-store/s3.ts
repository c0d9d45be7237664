// UploadStore on S3: the client PUTs straight to the bucket with a presigned URL, so a Lambda intake never
// carries the bytes; the submit reads them back as a stream.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { type Clock, systemClock } from "../../ports/clock.ts";
import { UPLOAD_ID, type UploadStore, uploadOwnerTag } from "../../ports/upload-store.ts";
import { isNotFound, stickyHealth } from "../aws/errors.ts";

export interface S3UploadStoreOptions {
  client: S3Client;
  /** Signs the PUT URLs: a client made with `checksumsWhenRequired` (see clients.ts); default `client`. */
  presigner?: S3Client;
  bucket: string;
  /** Key prefix of staged uploads (default "uploads/"); give it a lifecycle expiry of a day or so. */
  prefix?: string;
  /** Lifetime of a presigned URL in ms. */
  ttlMs: number;
  clock?: Clock;
}

export function createS3UploadStore(options: S3UploadStoreOptions): UploadStore {
  const { client, bucket } = options;
  const prefix = options.prefix ?? "uploads/";
  const clock = options.clock ?? systemClock;
  const health = stickyHealth(`s3://${bucket}/${prefix}`, clock);
  const keyOf = (owner: string, id: string) => {
    if (!UPLOAD_ID.test(id)) throw Object.assign(new Error(`no upload ${JSON.stringify(id)}`), { code: "ENOENT" });
    return `${prefix}${uploadOwnerTag(owner)}/${id}`;
  };

  return {
    async create(upload) {
      const id = randomBytes(16).toString("base64url");
      const expiresIn = Math.max(1, Math.floor(options.ttlMs / 1000));
      const command = new PutObjectCommand({
        Bucket: bucket,
        Key: keyOf(upload.owner, id),
        ContentType: upload.contentType,
        // A signed Content-Length makes S3 refuse any other length; without one the size limit is applied when
        // the upload is submitted (the pipeline counts every byte).
        ...(upload.size === undefined ? {} : { ContentLength: upload.size }),
      });
      const url = await getSignedUrl(options.presigner ?? client, command, {
        expiresIn,
        signableHeaders: new Set(["content-type", ...(upload.size === undefined ? [] : ["content-length"])]),
      });
      return {
        id,
        method: "PUT",
        url,
        headers: { "content-type": upload.contentType },
        expiresAt: clock.now() + expiresIn * 1000,
      };
    },

    async open(owner, id) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(owner, id) }));
        const body = out.Body instanceof Readable ? out.Body : Readable.fromWeb(out.Body as never);
        return { body, size: out.ContentLength ?? 0 };
      } catch (err) {
        if (isNotFound(err) || (err as { code?: string }).code === "ENOENT") {
          throw Object.assign(new Error(`no upload ${id}`), { code: "ENOENT" });
        }
        throw health.note(err);
      }
    },

    async delete(owner, id) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: keyOf(owner, id) })).catch((err) => {
        throw health.note(err);
      });
    },

    unhealthyReason: () => health.reason(),
    async close() {},
  };
}
