import { createMongoQueue } from "../../shared/adapters/queue/mongo.ts";
import { freshDatabase } from "../support/mongo.ts";
import { describeQueueContract } from "./queue-contract.ts";

describeQueueContract("mongo (MongoDB wire protocol)", async () => {
  const t = await freshDatabase("zr_queue");
  const queue = await createMongoQueue({ db: t.db });
  // another host: its own client and connection pool on the same database
  const peer = await createMongoQueue({ db: await t.connectPeer() });
  return {
    queue,
    peer,
    cleanup: async () => {
      await Promise.all([queue.close(), peer.close()]);
      await t.cleanup();
    },
  };
});
