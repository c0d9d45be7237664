// The `zonerelay` command: start, check-config, hash-password, new-api-key.
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { hashApiKey, hashPassword, newApiKey } from "../shared/auth/password.ts";
import { ConfigError, loadConfig } from "../shared/config/load.ts";
import { redact } from "../shared/config/redact.ts";
import { DkimKeyError, dnsRecordFor } from "../shared/mail/dkim/keys.ts";
import { PluginLoadError } from "../shared/plugins/loader.ts";
import { startRelay } from "./main.ts";
import { runQueueCli } from "./queue-cli.ts";
import { createDkimSetup } from "./sender/dkim.ts";
import { lowerPoolThreads } from "./thread-pool.ts";
import { runTlsReportsCli } from "./tls-reports-cli.ts";

const USAGE = `usage: zonerelay <command> [--config FILE]

commands:
  start           run the relay (embedded default without a config)
  check-config    validate the config and print the effective values
  hash-password   read a password from stdin, print its scrypt hash for users.<name>.password
  new-api-key     print a new API key and the hash for api.keys[].hash
  dkim-records    print the DNS TXT record that publishes each configured DKIM key
  queue           list, show, retry, hold, release, delete, flush (\`zonerelay queue --help\`)
  tls-reports     show or send a day's TLS-RPT reports (\`zonerelay tls-reports --help\`)

The config file is YAML or JSON; ZONERELAY_CONFIG names it when --config is absent.
ZONERELAY__a__b=value overrides config key a.b (JSON values are parsed).`;

async function readStdin(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return text.replace(/\r?\n$/, "");
}

async function main(argv: string[]) {
  // The queue commands talk to a running relay's API and have their own options.
  if (argv[0] === "queue") {
    return runQueueCli(argv.slice(1), { out: console.log, err: console.error, env: process.env });
  }
  if (argv[0] === "tls-reports") {
    return runTlsReportsCli(argv.slice(1), { out: console.log, err: console.error, env: process.env });
  }
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  switch (command) {
    case "start": {
      const config = loadConfig(values.config);
      const file = values.config ?? process.env.ZONERELAY_CONFIG;
      const relay = await startRelay(config, file ? { pluginBaseDir: dirname(resolve(file)) } : {});
      // A process-wide setting, so here rather than in startRelay (which tests run inside their own process).
      void lowerPoolThreads(config.threadPool.nice);
      const shutdown = (signal: string) => {
        console.error(`${signal}: stopping (no new mail accepted, leases released)`);
        relay.stop().then(
          () => process.exit(0),
          (err) => {
            console.error(err);
            process.exit(1);
          },
        );
      };
      // SIGHUP re-reads the config file and applies its delivery settings (zones, shaping, routes) live.
      process.on("SIGHUP", () => {
        let next: ReturnType<typeof loadConfig>;
        try {
          next = loadConfig(values.config);
        } catch (err) {
          console.error(`SIGHUP: config not reloaded, keeping the running one:\n${(err as Error).message}`);
          return;
        }
        relay.reload(next).then(
          ({ needsRestart }) => {
            const note = needsRestart.length ? ` (restart to apply: ${needsRestart.join(", ")})` : "";
            console.error(`SIGHUP: config reloaded${note}`);
          },
          (err) => console.error("SIGHUP: reload failed", err),
        );
      });
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
      return undefined;
    }
    case "check-config": {
      const config = loadConfig(values.config);
      createDkimSetup(config); // reads and checks every DKIM key (a bad one is a config error too)
      console.log(JSON.stringify(redact(config), null, 2));
      console.error("config ok");
      return 0;
    }
    case "hash-password": {
      const password = positionals[1] ?? (await readStdin());
      if (!password) throw new Error("empty password");
      console.log(await hashPassword(password));
      return 0;
    }
    case "dkim-records": {
      const config = loadConfig(values.config);
      for (const key of createDkimSetup(config).keys) {
        const record = dnsRecordFor(key.privateKey);
        // TXT strings are at most 255 bytes (RFC 1035 §3.3.14): long keys are split into quoted pieces.
        const pieces = record.match(/.{1,255}/g)!.map((p) => `"${p}"`);
        console.log(`${key.selector}._domainkey.${key.domain}. IN TXT ( ${pieces.join(" ")} )`);
      }
      return 0;
    }
    case "new-api-key": {
      const key = newApiKey();
      console.log(`key:  ${key}\nhash: ${hashApiKey(key)}`);
      return 0;
    }
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err) => {
    if (err instanceof ConfigError || err instanceof DkimKeyError || err instanceof PluginLoadError) {
      console.error(`zonerelay: ${err.message}`);
      process.exitCode = 78; // EX_CONFIG: refuse to start on an invalid config
    } else {
      console.error(err);
      process.exitCode = 1;
    }
  },
);
