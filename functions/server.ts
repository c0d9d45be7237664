// Node entry of the HTTP API: serves THE app (app.ts) with @hono/node-server; refuses an open bind without keys.
import type { Server } from "node:http";
import { type AddressInfo, BlockList, isIP } from "node:net";
import { serve } from "@hono/node-server";
import type { Hono } from "hono";
import type { Logger } from "pino";
import type { Config } from "../shared/config/schema.ts";

export interface ApiServer {
  port: number;
  /** Stops accepting, lets requests in flight finish (bounded), then closes. */
  close(): Promise<void>;
}

/** How long close() waits for requests in flight (a large upload) before cutting connections. */
const CLOSE_GRACE_MS = 10_000;

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");
loopback.addSubnet("::ffff:127.0.0.0", 104, "ipv6");

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (bare.toLowerCase() === "localhost") return true;
  const family = isIP(bare);
  return family !== 0 && loopback.check(bare, family === 4 ? "ipv4" : "ipv6");
}

export async function startApiServer(options: {
  config: Readonly<Config>;
  // biome-ignore lint/suspicious/noExplicitAny: any Hono app, whatever its Env type
  app: Hono<any>;
  logger: Logger;
}): Promise<ApiServer> {
  const { host, port, keys } = options.config.api;
  // ZoneMTA's API had no auth at all; ours runs keyless only where nobody but this host can reach it.
  if (keys.length === 0 && !isLoopbackHost(host)) {
    throw new Error(
      `refusing to start the HTTP API on ${host}: no api.keys are configured, so it would accept mail from anyone. ` +
        "Add api.keys (`zonerelay hash-api-key`) or bind api.host to 127.0.0.1.",
    );
  }
  // No http2/https options are passed, so serve() makes a plain node:http server.
  const server = serve({ fetch: options.app.fetch, hostname: host, port }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const actualPort = (server.address() as AddressInfo).port;
  options.logger.info({ host, port: actualPort, auth: keys.length > 0 }, "http api listening");

  let closing: Promise<void> | undefined;
  return {
    port: actualPort,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        force.unref();
        server.close((err) => {
          clearTimeout(force);
          if (err) reject(err);
          else resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
