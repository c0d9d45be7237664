// Entry of the threaded local queue's worker: loads the TypeScript worker through tsx (no build step), as the bin does.
import { register } from "tsx/esm/api";

register();
await import("./local-thread-worker.ts");
