import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalQueue } from "../../shared/adapters/queue/local.ts";
import { describeQueueContract } from "./queue-contract.ts";

describeQueueContract("local (SQLite)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "zr-queue-"));
  const queue = createLocalQueue({ path: join(dir, "queue.sqlite") });
  return {
    queue,
    cleanup: async () => {
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
