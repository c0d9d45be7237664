// BodyStore in MongoDB GridFS (the cluster mode): one GridFS file per body, streamed in and out in chunks.
import { Readable } from "node:stream";
import {
  type Binary,
  type Db,
  GridFSBucket,
  type GridFSBucketWriteStream,
  MongoError,
  MongoErrorLabel,
  MongoNetworkError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
  type ObjectId,
  type WriteConcernSettings,
} from "mongodb";
import type { BodyStore } from "../../ports/body-store.ts";

/** Chunks per read batch: 4 × 255 KiB (GridFS's default chunk size) ≈ 1 MiB in memory while streaming out. */
const CHUNKS_PER_BATCH = 4;
const ID_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;
/** After a connection failure, report unhealthy for this long (or until an operation succeeds again). */
const SICK_AFTER_ERROR_MS = 30_000;

export interface GridFsBodyStoreOptions {
  db: Db;
  /** GridFS bucket name: collections `<bucket>.files`, `<bucket>.chunks` (+ `<bucket>.pending`). ZoneMTA's is "mail". */
  bucket?: string;
  /** Default majority + journal: a body is acknowledged only once it survives the loss of the primary. */
  writeConcern?: WriteConcernSettings;
}

/** The indexes the store needs, created (idempotently) before the factory resolves. */
export function gridFsIndexes(bucket: string) {
  return [
    // GridFS's own (the driver creates the same ones lazily; we create them up front so the first put is not slow)
    { collection: `${bucket}.files`, key: { filename: 1, uploadDate: 1 }, name: "filename_1_uploadDate_1" },
    { collection: `${bucket}.chunks`, key: { files_id: 1, n: 1 }, name: "files_id_1_n_1", unique: true },
  ] as const;
}

/** True for failures that mean "the database cannot be reached (durably)", as opposed to a bad request. */
function isConnectionError(err: unknown): boolean {
  return (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoWriteConcernError ||
    // a bulk write (insertMany, bulkWrite) wraps the network error but keeps its labels
    (err instanceof MongoError && err.hasErrorLabel(MongoErrorLabel.ResetPool))
  );
}

const corrupt = (id: string, what: string) =>
  Object.assign(new Error(`body ${id} is damaged: ${what}`), { code: "EBADMSG" });
const notFound = (id: string) => Object.assign(new Error(`body ${id} not found`), { code: "ENOENT" });

/**
 * Body ids are ours: each body is the GridFS file whose `_id` AND `filename` are the body id. `_id` makes `get` and
 * `delete` point lookups and guarantees one file per id (a second put of a stored id rejects with EEXIST instead of
 * making a second revision); `filename` keeps the files readable with GridFS tools (mongofiles).
 *
 * GridFS writes the chunks first and the files document last, so a process killed mid-upload would leave chunks
 * without a file. Each upload therefore first records its id in `<bucket>.pending` and removes it once the file is
 * complete (or aborted): `list()` reports pending ids as well, so garbage collection removes a crashed upload's
 * chunks like any other orphan body.
 */
export async function createGridFsBodyStore(options: GridFsBodyStoreOptions): Promise<BodyStore> {
  const bucketName = options.bucket ?? "mail";
  const writeConcern = options.writeConcern ?? { w: "majority", j: true };
  const db = options.db;
  const bucket = new GridFSBucket(db, { bucketName, writeConcern });
  const files = db.collection<{ _id: string; length: number }>(`${bucketName}.files`, { writeConcern });
  const chunks = db.collection<{ files_id: string; n: number; data: Binary }>(`${bucketName}.chunks`, { writeConcern });
  const pending = db.collection<{ _id: string; startedAt: Date }>(`${bucketName}.pending`, { writeConcern });
  let sickUntil = 0;
  let sickReason = "";

  /** Runs one operation, remembering whether the database could be reached so intake can refuse quickly. */
  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      sickUntil = 0;
      return result;
    } catch (err) {
      noteError(err);
      throw err;
    }
  }
  function noteError(err: unknown) {
    if (!isConnectionError(err)) return;
    sickUntil = Date.now() + SICK_AFTER_ERROR_MS;
    sickReason = `gridfs ${db.databaseName}/${bucketName}: ${(err as Error).message}`;
  }
  const checkId = (id: string) => {
    if (!ID_PATTERN.test(id)) throw new Error(`invalid body id ${JSON.stringify(id)}`);
  };

  await guarded(async () => {
    for (const index of gridFsIndexes(bucketName)) {
      const { collection, key, ...rest } = index;
      await db.collection(collection).createIndex(key, rest);
    }
  });

  /** Writes one piece and waits until GridFS took it (a full chunk: until that chunk's insert is acknowledged). */
  const writePiece = (upload: GridFSBucketWriteStream, piece: Buffer) =>
    new Promise<void>((resolve, reject) => upload.write(piece, (err) => (err ? reject(err) : resolve())));
  const finish = (upload: GridFSBucketWriteStream) =>
    new Promise<void>((resolve, reject) => {
      upload.once("error", reject);
      upload.end(() => resolve());
    });

  /**
   * The chunks of one file in order, a few at a time. We read them ourselves rather than through
   * `bucket.openDownloadStream`: its cursor takes whatever batch size the server picks, and FerretDB hands back
   * batches of hundreds of megabytes for a large body (bounded memory is part of the contract).
   */
  async function* readChunks(id: string, length: number) {
    let n = 0;
    let seen = 0;
    const cursor = chunks.find({ files_id: id }, { sort: { n: 1 }, batchSize: CHUNKS_PER_BATCH });
    try {
      for await (const chunk of cursor) {
        if (chunk.n !== n) throw corrupt(id, `chunk ${n} is missing`);
        const bytes = chunk.data.buffer.subarray(0, chunk.data.length());
        const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        seen += data.length;
        n++;
        yield data;
      }
    } finally {
      await cursor.close();
    }
    if (seen !== length) throw corrupt(id, `${seen} bytes stored, ${length} expected`);
  }

  return {
    async put(id, body) {
      checkId(id);
      // The source may fail before we start reading; iterating it still reports that stored error.
      const noteEarlyError = () => {};
      body.once("error", noteEarlyError);
      try {
        return await guarded(async () => {
          try {
            await pending.insertOne({ _id: id, startedAt: new Date() });
          } catch (err) {
            if ((err as { code?: number }).code === 11000) throw alreadyStored(id);
            throw err;
          }
          // Checked only once the pending marker is ours: a concurrent put of the same id cannot slip in between.
          if (await files.findOne({ _id: id }, { projection: { _id: 1 } })) {
            await pending.deleteOne({ _id: id });
            throw alreadyStored(id);
          }
          const upload = bucket.openUploadStream(id, { id: asFileId(id) });
          upload.on("error", () => {}); // every failure also reaches a write/end callback below, and is handled there
          let size = 0;
          try {
            // One piece at a time, each acknowledged before the next is read: nothing is in flight when the source
            // fails, so abort() below removes every chunk written (no orphan chunk lands after the cleanup).
            for await (const piece of body) {
              const buf = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as string);
              size += buf.length;
              await writePiece(upload, buf);
            }
            await finish(upload); // resolves after the files document (the commit point) is written
          } catch (err) {
            await upload.abort().catch(() => {});
            // If the chunks could not be removed (connection lost), the pending marker stays for GC to find.
            await chunks.deleteMany({ files_id: id }).catch(() => {});
            await pending.deleteOne({ _id: id }).catch(() => {});
            throw err;
          }
          await pending.deleteOne({ _id: id });
          return { size };
        });
      } finally {
        body.off("error", noteEarlyError);
      }
    },

    async get(id) {
      checkId(id);
      const file = await guarded(() => files.findOne({ _id: id }, { projection: { length: 1 } }));
      if (!file) throw notFound(id);
      const stream = Readable.from(readChunks(id, file.length), { objectMode: false });
      // A connection lost mid-stream marks the store unhealthy too; the reader still gets the error.
      stream.on("error", noteError);
      return stream;
    },

    async delete(id) {
      checkId(id);
      await guarded(async () => {
        // files document first: from then on get() reports ENOENT even if removing the chunks is interrupted
        await files.deleteOne({ _id: id });
        await chunks.deleteMany({ files_id: id });
        await pending.deleteOne({ _id: id });
      });
    },

    async *list() {
      for await (const f of files.find({}, { projection: { _id: 1 } })) yield String(f._id);
      // uploads that never finished (their process died): chunks without a file, for GC to remove
      for await (const p of pending.find({}, { projection: { _id: 1 } })) yield p._id;
    },

    unhealthyReason() {
      return Date.now() < sickUntil ? sickReason : undefined;
    },

    // The MongoClient belongs to the caller (it is shared with the queue), so there is nothing to close here.
    async close() {},
  };
}

/** GridFS takes any `_id`; the driver's types only say ObjectId. */
const asFileId = (id: string) => id as unknown as ObjectId;

const alreadyStored = (id: string) =>
  Object.assign(new Error(`body ${id} is already stored (or being stored)`), { code: "EEXIST" });
