// A DNSSEC-validating resolver for DANE tests: Debian's unbound (scripts/services/unbound.sh) serving a zone signed
// here with ldns-signzone, trusted through a local trust anchor (its DS), and everything else under `test.` from the
// test DNS server (unsigned, so insecure). Answers inside the signed zone carry the AD bit; nothing else does.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureResolver } from "../../relay/tls-policy/secure-dns.ts";
import { freePort } from "./relay.ts";

export interface ValidatingResolver {
  /** "127.0.0.1:PORT" for `dns.nameservers`. */
  nameserver: string;
  close(): Promise<void>;
}

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString();
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`${cmd} failed (run scripts/services.sh up to install unbound and ldnsutils): ${stderr || err}`);
  }
}

/**
 * Signs `zone` (records in zone-file syntax, names relative to the zone) and starts unbound on a free port with
 * that zone as a validated auth-zone and `test.` stubbed to `upstream` (the test DNS server, "127.0.0.1:PORT").
 */
export async function startValidatingResolver(opts: {
  zone: string;
  records: string[];
  upstream: string;
  /** Sign with a key other than the trust anchor's: every answer of the zone is then bogus (SERVFAIL). */
  bogus?: boolean;
}): Promise<ValidatingResolver> {
  const dir = mkdtempSync(join(tmpdir(), "zr-unbound-"));
  const zone = opts.zone.replace(/\.$/, "");
  const keyOf = () =>
    readdirSync(dir)
      .find((f) => f.startsWith(`K${zone}.`) && f.endsWith(".key"))!
      .replace(/\.key$/, "");
  run("ldns-keygen", ["-a", "ECDSAP256SHA256", "-k", zone], dir);
  const anchorKey = keyOf();
  const ds = readFileSync(join(dir, `${anchorKey}.ds`), "utf8")
    .trim()
    .replace(/\s+/g, " ");
  let signingKey = anchorKey;
  if (opts.bogus) {
    for (const f of readdirSync(dir)) if (f.startsWith(anchorKey)) rmSync(join(dir, f));
    run("ldns-keygen", ["-a", "ECDSAP256SHA256", "-k", zone], dir);
    signingKey = keyOf();
  }
  writeFileSync(
    join(dir, "zone"),
    [
      `$ORIGIN ${zone}.`,
      "$TTL 60",
      `@ IN SOA ns.${zone}. hostmaster.${zone}. 1 3600 600 86400 60`,
      `@ IN NS ns.${zone}.`,
      "ns IN A 127.0.0.1",
      ...opts.records,
      "",
    ].join("\n"),
  );
  run("ldns-signzone", ["-f", "zone.signed", "zone", signingKey], dir);
  const port = await freePort();
  const [upHost, upPort] = opts.upstream.split(":");
  writeFileSync(
    join(dir, "unbound.conf"),
    `server:
  interface: 127.0.0.1
  port: ${port}
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  module-config: "validator iterator"
  trust-anchor: "${ds}"
  # RFC 6761 reserves test.; unbound answers it locally unless told otherwise.
  local-zone: "test." nodefault
  # The test DNS server answers NXDOMAIN for empty non-terminals such as sink.test.
  qname-minimisation: no
  harden-below-nxdomain: no
  cache-max-ttl: 0
  cache-max-negative-ttl: 0
auth-zone:
  name: "${zone}"
  zonefile: "${join(dir, "zone.signed")}"
  for-downstream: no
  for-upstream: yes
  fallback-enabled: no
stub-zone:
  name: "test."
  stub-addr: ${upHost}@${upPort}
`,
  );
  const child: ChildProcess = spawn("unbound", ["-d", "-c", join(dir, "unbound.conf")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c) => {
    stderr += c;
  });
  const nameserver = `127.0.0.1:${port}`;
  const probe = createSecureResolver({ nameservers: [nameserver], timeoutMs: 500 });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`unbound exited with ${child.exitCode}: ${stderr}`);
    const answer = await probe.query(zone, "SOA" as "A").catch(() => undefined);
    if (answer) break;
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`unbound did not answer on ${nameserver}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    nameserver,
    close: () =>
      new Promise((resolve) => {
        const done = () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once("exit", done);
        child.kill("SIGTERM");
      }),
  };
}
