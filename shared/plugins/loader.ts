// Loads the plugins named in `plugins` (config order = hook order): `core/<name>` for a built-in, a path (./ or /,
// relative to the config file's directory) for a local module, anything else as an npm package name.
import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import { BUILTIN_PLUGINS } from "./builtin/index.ts";
import type { ZoneRelayPlugin } from "./hooks.ts";
import { PluginHost } from "./host.ts";

export class PluginLoadError extends Error {
  override name = "PluginLoadError";
}

export async function loadPlugins(
  config: Readonly<Config>,
  logger: Logger,
  options: { baseDir?: string } = {},
): Promise<PluginHost> {
  const host = new PluginHost(logger);
  for (const [i, entry] of config.plugins.entries()) {
    if (!entry.enabled) continue;
    const plugin = await importPlugin(entry.use, options.baseDir ?? process.cwd()).catch((err: Error) => {
      throw new PluginLoadError(`plugins[${i}] (${entry.use}): ${err.message}`);
    });
    const name = plugin.name || entry.use;
    const log = logger.child({ plugin: name });
    try {
      await plugin.setup({
        options: { ...entry.options },
        config,
        logger: log,
        on: (hook, handler) => host.on(name, hook, handler),
        onClose: (fn) => host.onClose(name, fn),
      });
    } catch (err) {
      await host.close();
      throw new PluginLoadError(`plugins[${i}] (${name}) failed to start: ${(err as Error).message}`);
    }
    host.plugins.push(name);
    log.info("plugin loaded");
  }
  return host;
}

async function importPlugin(use: string, baseDir: string): Promise<ZoneRelayPlugin> {
  if (use.startsWith("core/")) {
    const builtin = BUILTIN_PLUGINS[use.slice(5)];
    if (!builtin)
      throw new Error(`no built-in plugin "${use}" (there are: ${Object.keys(BUILTIN_PLUGINS).join(", ")})`);
    return builtin;
  }
  const specifier =
    use.startsWith(".") || isAbsolute(use)
      ? pathToFileURL(isAbsolute(use) ? use : resolve(baseDir, use)).href
      : npm(use, baseDir);
  const mod = (await import(specifier)) as { default?: unknown; plugin?: unknown };
  const plugin = (mod.plugin ?? mod.default) as ZoneRelayPlugin | undefined;
  if (!plugin || typeof plugin.setup !== "function") {
    throw new Error("the module exports no plugin (a default or `plugin` export with `name` and `setup`)");
  }
  return plugin;
}

/** An npm package: installed beside the config file (its node_modules, or a parent's), else beside ZoneRelay. */
function npm(name: string, baseDir: string): string {
  try {
    return pathToFileURL(createRequire(join(baseDir, "noop.js")).resolve(name)).href;
  } catch {
    return name;
  }
}
