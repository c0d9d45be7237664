// The MongoDB-wire server the cluster adapters' tests use (scripts/services/mongo.sh: FerretDB on 127.0.0.1:27018
// unless MONGO_URL points elsewhere), and a fresh, uniquely named database per test fixture.
import { randomBytes } from "node:crypto";
import { type Db, MongoClient, type MongoClientOptions } from "mongodb";

export const MONGO_URL = process.env.MONGO_URL ?? "mongodb://127.0.0.1:27018/";

/** A client that fails fast (and loudly) when the server is not there, instead of waiting 30 s per test. */
export async function connectMongo(url = MONGO_URL, options: MongoClientOptions = {}): Promise<MongoClient> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5_000, ...options });
  try {
    await client.db("admin").command({ ping: 1 });
  } catch (err) {
    await client.close().catch(() => {});
    throw new Error(
      `no MongoDB-wire server answers at ${url} (${(err as Error).message}); start it with: bash scripts/services/mongo.sh up`,
    );
  }
  return client;
}

export interface TestDatabase {
  client: MongoClient;
  db: Db;
  name: string;
  /** Another, independent client on the same database (a second host). */
  connectPeer(): Promise<Db>;
  /** Drops the database and closes every client opened here. */
  cleanup(): Promise<void>;
}

let counter = 0;

export async function freshDatabase(prefix = "zr"): Promise<TestDatabase> {
  // Database names are short (64 bytes) and become files on FerretDB's SQLite handler: plain ASCII only.
  const name = `${prefix}_${Date.now().toString(36)}_${(counter++).toString(36)}_${randomBytes(3).toString("hex")}`;
  const client = await connectMongo();
  const peers: MongoClient[] = [];
  return {
    client,
    db: client.db(name),
    name,
    async connectPeer() {
      const peer = await connectMongo();
      peers.push(peer);
      return peer.db(name);
    },
    async cleanup() {
      try {
        await client.db(name).dropDatabase();
      } finally {
        await Promise.all([client, ...peers].map((c) => c.close()));
      }
    },
  };
}
