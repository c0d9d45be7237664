import { createGridFsBodyStore } from "../../shared/adapters/body-store/gridfs.ts";
import { freshDatabase } from "../support/mongo.ts";
import { describeBodyStoreContract } from "./body-store-contract.ts";

describeBodyStoreContract("gridfs (MongoDB)", async () => {
  const t = await freshDatabase("zr_body");
  const store = await createGridFsBodyStore({ db: t.db });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await t.cleanup();
    },
  };
});
