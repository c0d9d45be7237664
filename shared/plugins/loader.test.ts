import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.ts";
import { HeaderEditor } from "./header-editor.ts";
import { loadPlugins, PluginLoadError } from "./loader.ts";
import { PluginError } from "./plugin-error.ts";

const dir = mkdtempSync(join(tmpdir(), "zr-plugins-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const logger = pino({ level: "silent" });

// An npm package installed beside the config file, and a plain file plugin.
mkdirSync(join(dir, "node_modules/zr-test-plugin"), { recursive: true });
writeFileSync(
  join(dir, "node_modules/zr-test-plugin/package.json"),
  JSON.stringify({ name: "zr-test-plugin", main: "index.mjs" }),
);
const source = (label: string) => `export default {
  name: "${label}",
  setup(api) {
    api.on("message:headers", ({ headers }) => headers.add("X-Order", "${label}:" + api.options.n, "bottom"));
    api.on("smtp:mail_from", ({ address }) => { if (address === "crash@x.test") throw new TypeError("boom"); });
  },
};`;
writeFileSync(join(dir, "node_modules/zr-test-plugin/index.mjs"), source("npm"));
writeFileSync(join(dir, "local.mjs"), source("file"));
writeFileSync(join(dir, "broken.mjs"), "export default { name: 'broken', setup() { throw new Error('no key'); } };");

const config = (plugins: unknown[]) => parseConfig({ plugins, queue: { dbPath: join(dir, "q.sqlite") } });

describe("plugin loader", () => {
  it("loads npm packages (beside the config) and files, and runs hooks in config order", async () => {
    const host = await loadPlugins(
      config([
        { use: "zr-test-plugin", options: { n: 1 } },
        { use: "./local.mjs", options: { n: 2 } },
        { use: "./local.mjs", enabled: false },
        { use: "zr-test-plugin", options: { n: 3 } },
      ]),
      logger,
      { baseDir: dir },
    );
    expect(host.plugins).toEqual(["npm", "file", "npm"]);
    const headers = new HeaderEditor("Subject: x\r\n");
    await host.run("message:headers", {
      envelope: { id: "1", from: "a@x.test", to: [], source: { interface: "api", name: "api" } },
      headers,
    });
    expect(headers.getAll("X-Order")).toEqual(["npm:1", "file:2", "npm:3"]);
  });

  it("turns a crash into a temporary 451 and a PluginError into its own reply", async () => {
    const host = await loadPlugins(config([{ use: "./local.mjs" }]), logger, { baseDir: dir });
    const session = { interface: "feeder", remoteAddress: "127.0.0.1", secure: false, to: [] };
    const crash = await host.run("smtp:mail_from", { address: "crash@x.test", session }).catch((e) => e);
    expect([crash.smtpCode, crash.enhanced, crash.temporary]).toEqual([451, "4.7.1", true]);
    host.on("test", "smtp:rcpt_to", () => {
      throw new PluginError("Go away", { permanent: true, code: 554, enhanced: "5.7.1" });
    });
    const refused = await host.run("smtp:rcpt_to", { address: "a@x.test", session }).catch((e) => e);
    expect([refused.smtpCode, refused.enhanced, refused.temporary, refused.message]).toEqual([
      554,
      "5.7.1",
      false,
      "Go away",
    ]);
  });

  it("stops the start with the reason of a plugin that cannot start or be found", async () => {
    await expect(loadPlugins(config([{ use: "./broken.mjs" }]), logger, { baseDir: dir })).rejects.toThrow(
      /plugins\[0\] \(broken\) failed to start: no key/,
    );
    await expect(loadPlugins(config([{ use: "core/nope" }]), logger)).rejects.toThrow(PluginLoadError);
    await expect(loadPlugins(config([{ use: "no-such-zonerelay-plugin" }]), logger)).rejects.toThrow(/plugins\[0\]/);
  });
});

describe("HeaderEditor", () => {
  it("keeps folded fields whole, edits in place and refuses header injection", () => {
    const h = new HeaderEditor("Received: a\r\n\tb\r\nSubject: one\r\nX-A: 1\r\nX-A: 2\r\n");
    expect(h.getAll("x-a")).toEqual(["1", "2"]);
    expect(h.get("Received")).toBe("a b");
    h.set("Subject", "two");
    h.add("X-Top", "t");
    expect(h.remove("X-A")).toBe(2);
    expect(h.toString()).toBe("X-Top: t\r\nReceived: a\r\n\tb\r\nSubject: two\r\n");
    expect(() => h.add("X-Bad", "v\r\nBcc: evil@x.test")).toThrow(/CR or LF/);
    expect(() => h.add("Bad Name", "v")).toThrow(/Invalid header name/);
  });
});
