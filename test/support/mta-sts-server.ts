// An HTTPS server on loopback serving MTA-STS policies (RFC 8461 §3.3) for test domains: GET
// /.well-known/mta-sts.txt with Host mta-sts.<domain>, answered with that domain's policy as text/plain.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TestCa } from "./test-ca.ts";

export interface PolicyServer {
  port: number;
  /** Policy text by domain; a domain without one answers 404. */
  policies: Map<string, string>;
  /** Requests received, by domain (from the Host header). */
  requests: string[];
  /** Bodies POSTed to any path (TLS-RPT uploads, RFC 8460 §5.2). */
  uploads: { path: string; contentType: string; body: Buffer }[];
  fetchesOf(domain: string): number;
  close(): Promise<void>;
}

/** A policy file: `policy("enforce", ["mx.sts.test"], 86400)`. */
export function policy(mode: "enforce" | "testing" | "none", mx: string[], maxAge = 86_400): string {
  return ["version: STSv1", `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${maxAge}`, ""].join("\r\n");
}

/** Serves `mta-sts.<domain>` for each domain with one certificate from the test CA. */
export async function startPolicyServer(ca: TestCa, domains: string[]): Promise<PolicyServer> {
  const policies = new Map<string, string>();
  const requests: string[] = [];
  const uploads: PolicyServer["uploads"] = [];
  const server: Server = createServer(ca.issue(domains.map((d) => `mta-sts.${d}`)), (req, res) => {
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        uploads.push({
          path: req.url ?? "",
          contentType: String(req.headers["content-type"]),
          body: Buffer.concat(chunks),
        });
        res.writeHead(201).end();
      });
      return;
    }
    const host = String(req.headers.host ?? "")
      .replace(/:\d+$/, "")
      .toLowerCase();
    const domain = host.replace(/^mta-sts\./, "");
    requests.push(domain);
    const text = policies.get(domain);
    if (req.url !== "/.well-known/mta-sts.txt" || text === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    policies,
    requests,
    uploads,
    fetchesOf: (domain) => requests.filter((d) => d === domain).length,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
