// Entry of the threaded local queue's worker when its code could not be bundled (worker-code.ts): loads the TypeScript
// worker through tsx, as the bin does.
import { register } from "tsx/esm/api";

register();
await import("./local-thread-worker.ts");
