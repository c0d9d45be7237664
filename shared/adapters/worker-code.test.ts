import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { bundleWorkerCode } from "./worker-code.ts";

// A worker's files in a folder of their own, with a package only that folder's node_modules has: the bundled
// script must find it from there, not from the working directory (the relay's is anywhere).
const dir = mkdtempSync(join(tmpdir(), "zr-worker-code-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (path: string, text: string) => {
  mkdirSync(join(dir, path, ".."), { recursive: true });
  writeFileSync(join(dir, path), text);
};
write("node_modules/zr-only-here/package.json", JSON.stringify({ name: "zr-only-here", main: "index.js" }));
write("node_modules/zr-only-here/index.js", "exports.shout = (s) => s.toUpperCase();\n");
write("greeting.ts", 'export const greeting = (name: string): string => "hello " + name;\n');
write(
  "entry.ts",
  [
    'import { parentPort, workerData } from "node:worker_threads";',
    'import { shout } from "zr-only-here";',
    'import { greeting } from "./greeting.ts";',
    "const name: string = (workerData as { name: string }).name;",
    "parentPort!.postMessage(shout(greeting(name)));",
  ].join("\n"),
);
write("broken.ts", 'import { missing } from "./no-such-file.ts";\nmissing();\n');

describe("bundleWorkerCode", () => {
  it("makes one script of a TypeScript entry and its imports, loading packages from the entry's folder", async () => {
    const bundled = await bundleWorkerCode(pathToFileURL(join(dir, "entry.ts")));
    expect(bundled).toBeDefined();
    expect(bundled).toContain("hello ");
    expect(bundled).not.toContain("toUpperCase"); // the package stays a package, loaded by Node
    const worker = new Worker(bundled!, { eval: true, workerData: { name: "zone" } });
    const reply = await new Promise((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    expect(reply).toBe("HELLO ZONE");
    await worker.terminate();
  });

  it("gives nothing for an entry that does not build, so the caller can start the worker another way", async () => {
    expect(await bundleWorkerCode(pathToFileURL(join(dir, "broken.ts")))).toBeUndefined();
  });
});
