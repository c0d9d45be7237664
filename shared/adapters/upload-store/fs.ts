// UploadStore on the local disk: the upload URL is this API's own `PUT /v1/uploads/:id`, authorised by an HMAC
// over the query (like an S3 presigned URL), so the same client flow works against the Node server and Lambda.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Clock, systemClock } from "../../ports/clock.ts";
import { UPLOAD_ID, type UploadStore, uploadOwnerTag } from "../../ports/upload-store.ts";

export interface FsUploadStoreOptions {
  dir: string;
  /** Signs upload URLs; hosts behind one URL need the same. Default: random per process. */
  secret?: string;
  /** Lifetime of an upload URL in ms. */
  ttlMs: number;
  /** Uploads not submitted within this many ms are swept (the S3 store leaves this to a lifecycle rule). */
  expireAfterMs: number;
  clock?: Clock;
}

const OWNER_TAG = /^[0-9a-f]{16}$/;
const SWEEP_EVERY_MS = 60_000;

const fail = (code: string, message: string) => Object.assign(new Error(message), { code });

export async function createFsUploadStore(options: FsUploadStoreOptions): Promise<UploadStore> {
  const root = options.dir;
  const clock = options.clock ?? systemClock;
  const secret = options.secret ?? randomBytes(32).toString("hex");
  await mkdir(root, { recursive: true });
  let lastSweep = 0;

  const pathOf = (tag: string, id: string) => {
    if (!UPLOAD_ID.test(id) || !OWNER_TAG.test(tag)) throw fail("ENOENT", `no upload ${JSON.stringify(id)}`);
    return join(root, tag, id);
  };
  const sign = (fields: string[]) => createHmac("sha256", secret).update(fields.join("\n")).digest("base64url");

  /** Removes uploads nobody submitted in time; cheap enough to run now and then from `create`. */
  async function sweep() {
    const now = clock.now();
    if (now - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = now;
    for (const tag of await readdir(root).catch(() => [])) {
      for (const name of await readdir(join(root, tag)).catch(() => [])) {
        const path = join(root, tag, name);
        const info = await stat(path).catch(() => undefined);
        if (info && now - info.mtimeMs > options.expireAfterMs) await rm(path, { force: true });
      }
    }
  }

  return {
    async create(upload) {
      await sweep();
      const id = randomBytes(16).toString("base64url");
      const tag = uploadOwnerTag(upload.owner);
      const expires = String(clock.now() + options.ttlMs);
      const limit = String(upload.size ?? upload.maxSize);
      const exact = upload.size === undefined ? "0" : "1";
      const query = new URLSearchParams({ owner: tag, expires, limit, exact });
      query.set("sig", sign([id, tag, expires, limit, exact]));
      return {
        id,
        method: "PUT",
        url: `${upload.baseUrl.replace(/\/+$/, "")}/v1/uploads/${id}?${query}`,
        headers: { "content-type": upload.contentType },
        expiresAt: Number(expires),
      };
    },

    async accept(id, query, body) {
      const { owner = "", expires = "", limit = "", exact = "", sig = "" } = query;
      const expected = Buffer.from(sign([id, owner, expires, limit, exact]));
      const given = Buffer.from(sig);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        body.resume();
        throw fail("EACCES", "the upload URL's signature does not match");
      }
      if (clock.now() > Number(expires)) {
        body.resume();
        throw fail("EACCES", "the upload URL has expired");
      }
      const max = Number(limit);
      const final = pathOf(owner, id);
      await mkdir(join(root, owner), { recursive: true });
      const temp = `${final}.${process.pid}.tmp`;
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          if (size > max) done(fail("EFBIG", `the upload is larger than ${max} bytes`));
          else done(null, chunk);
        },
      });
      try {
        await pipeline(body, counter, createWriteStream(temp, { mode: 0o600 }));
        if (exact === "1" && size !== max)
          throw fail("EINVAL", `the upload has ${size} bytes, not the ${max} announced`);
        const handle = await open(temp, "r+");
        await handle.sync().finally(() => handle.close());
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
      await rename(temp, final);
      return { size };
    },

    async open(owner, id) {
      const path = pathOf(uploadOwnerTag(owner), id);
      const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
        throw err.code === "ENOENT" ? fail("ENOENT", `no upload ${id}`) : err;
      });
      return { body: createReadStream(path) as Readable, size: info.size };
    },

    async delete(owner, id) {
      await rm(pathOf(uploadOwnerTag(owner), id), { force: true });
    },

    unhealthyReason: () => undefined,
    async close() {},
  };
}
