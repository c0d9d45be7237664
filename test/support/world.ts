// A small world for end-to-end tests: a DNS server that knows the test domains, an SMTP sink that is their MX,
// and a relay that resolves through that DNS and sends from 127.0.0.2 / 127.0.0.3 (loopback aliases).
import type { Readable } from "node:stream";
import type { ConfigInput } from "../../shared/config/schema.ts";
import { type DnsServer, startDnsServer } from "./dns-server.ts";
import { deepMerge, startTestRelay, type TestRelay } from "./relay.ts";
import { type Sink, type SinkOptions, startSink } from "./smtp-sink.ts";

export interface World {
  dns: DnsServer;
  sink: Sink;
  relay: TestRelay;
  close(): Promise<void>;
}

/** Domains whose MX is the sink; `sender.test` receives the DSNs. */
export const SINK_DOMAINS = ["a.test", "b.test", "sender.test"];

export const POOL = [
  { address: "127.0.0.2", name: "out1.zonerelay.test" },
  { address: "127.0.0.3", name: "out2.zonerelay.test" },
];

export async function startWorld(
  opts: {
    sink?: SinkOptions;
    relay?: ConfigInput | ((sink: Sink, dns: DnsServer) => ConfigInput);
    /** Receives the relay's JSON log lines (info and above). */
    logs?: (line: string) => void;
  } = {},
): Promise<World> {
  const dns = await startDnsServer();
  dns.set("mx.sink.test", { A: ["127.0.0.1"] });
  for (const domain of SINK_DOMAINS) dns.set(domain, { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
  const sink = await startSink(opts.sink);
  const relay = await startTestRelay(
    deepMerge(
      {
        dns: { nameservers: [dns.nameserver], timeout: "2s" },
        pools: { default: POOL },
        zones: { default: { port: sink.port, timeouts: { connect: "5s", greeting: "5s", socket: "20s" } } },
      },
      (typeof opts.relay === "function" ? opts.relay(sink, dns) : opts.relay) ?? {},
    ) as ConfigInput,
    opts.logs ? { logs: opts.logs } : {},
  );
  return {
    dns,
    sink,
    relay,
    async close() {
      await relay.cleanup();
      await sink.close();
      await dns.close();
    },
  };
}

/** Sends one message over SMTP to the relay with nodemailer and returns the queue id from "250 … queued as ID". */
export async function sendSmtp(
  port: number,
  envelope: { from: string; to: string[] },
  raw: string | Buffer | Readable,
  auth?: { user: string; pass: string },
): Promise<string> {
  const { default: nodemailer } = await import("nodemailer");
  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port,
    secure: false,
    ignoreTLS: true,
    ...(auth ? { auth } : {}),
  });
  try {
    const info = await transport.sendMail({ envelope, raw });
    const id = /queued as (\S+)/.exec(info.response)?.[1];
    if (!id) throw new Error(`no queue id in "${info.response}"`);
    return id;
  } finally {
    transport.close();
  }
}

export function rfc822(headers: Record<string, string>, body = "Hello from the test.\r\n"): string {
  return `${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n${body}`;
}
