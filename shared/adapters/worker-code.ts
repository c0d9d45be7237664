// A worker thread's TypeScript, bundled into one script when the worker starts (there is no build step).
//
// A worker does not inherit the main thread's loader hooks, so it would register tsx again: ~20 MB more RSS for the
// life of the process (tsx's loader and its caches in a second V8 isolate), for the few files a worker runs. esbuild
// (tsx's own compiler, so always installed with us) bundles those files in ~50 ms into one CommonJS script that the
// worker evaluates; packages stay outside the bundle and are loaded by Node from node_modules, resolved from the
// entry's folder as if the file were run there.
import { fileURLToPath } from "node:url";
import { build, stop } from "esbuild";

/**
 * Bundles `entry` (a .ts file URL) into the script to give `new Worker(code, { eval: true })`; undefined when it
 * cannot be (the caller starts the worker through tsx).
 */
export async function bundleWorkerCode(entry: URL): Promise<string | undefined> {
  const file = fileURLToPath(entry);
  try {
    const result = await build({
      entryPoints: [file],
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      packages: "external",
      write: false,
      logLevel: "silent",
      keepNames: true,
      // An evaluated worker script's require resolves from the working directory; this one resolves packages from
      // the entry's folder, as they would be if the file ran there (getBuiltinModule is Node ≥ 20.16; before it,
      // the evaluated script's global require).
      banner: {
        js: `const require = (process.getBuiltinModule?.("node:module") ?? globalThis.require("node:module")).createRequire(${JSON.stringify(file)});`,
      },
    });
    const output = result.outputFiles?.[0];
    return output?.text;
  } catch {
    return undefined;
  } finally {
    // esbuild keeps a compiler process for later calls (~15 MB); this process makes no other.
    await stop();
  }
}
