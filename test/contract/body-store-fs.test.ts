import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFsBodyStore } from "../../shared/adapters/body-store/fs.ts";
import { describeBodyStoreContract } from "./body-store-contract.ts";

describeBodyStoreContract("fs (spool directory)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "zr-spool-"));
  const store = await createFsBodyStore({ dir });
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});
