// Independent DKIM verifiers for tests: mailauth's `authenticate` and dkimpy (Debian python3-dkim), both resolving
// the public keys through the test DNS server, never through the system's resolvers.
import { execFile } from "node:child_process";
import { Resolver } from "node:dns/promises";
import { authenticate } from "mailauth";

/** mailauth's full authentication; returns "domain/selector=result" for every DKIM signature, in order. */
export async function mailauthDkim(raw: Buffer, nameserver: string, sender: string): Promise<string[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([nameserver]);
  const result = await authenticate(raw, {
    ip: "127.0.0.2",
    helo: "out1.zonerelay.test",
    sender,
    mta: "sink.zonerelay.test",
    disableArc: true,
    disableBimi: true,
    resolver: (name: string, type: string) => resolver.resolve(name, type as "TXT") as Promise<string[][]>,
  });
  return result.dkim.results.map((r) => `${r.signingDomain}/${r.selector}=${r.status.result}`);
}

const DKIMPY = `
import json, sys, dkim, dns.resolver
host, port = sys.argv[1].rsplit(":", 1)
r = dns.resolver.Resolver(configure=False)
r.nameservers = [host]
r.port = int(port)
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    try:
        answer = r.resolve(name, "TXT", lifetime=timeout)
    except Exception:
        return None
    for rdata in answer:
        return b"".join(rdata.strings)
message = sys.stdin.buffer.read()
d = dkim.DKIM(message)
count = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
out = []
for i in range(count):
    ok = d.verify(idx=i, dnsfunc=dnsfunc)
    out.append({"ok": bool(ok), "domain": (d.domain or b"").decode(), "selector": (d.selector or b"").decode()})
print(json.dumps(out))
`;

/** dkimpy's verdict for every DKIM-Signature, in order: "domain/selector=pass|fail". */
export function dkimpyVerify(raw: Buffer, nameserver: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "/usr/bin/python3",
      ["-c", DKIMPY, nameserver],
      { timeout: 20_000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`dkimpy failed (is it installed? scripts/services.sh up): ${stderr || err}`));
        const results = JSON.parse(stdout) as { ok: boolean; domain: string; selector: string }[];
        resolve(results.map((r) => `${r.domain}/${r.selector}=${r.ok ? "pass" : "fail"}`));
      },
    );
    child.stdin!.end(raw);
  });
}
