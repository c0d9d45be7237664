// A self-signed TLS certificate for test peers (localhost, *.zonerelay.test, 127.0.0.1), made once per process.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  key: string;
  cert: string;
}

let cached: TestCerts | undefined;

/** PEM key and certificate; generated with openssl on first use, then served from memory. */
export function testCerts(): TestCerts {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "zr-certs-"));
  try {
    const keyPath = join(dir, "key.pem");
    const certPath = join(dir, "cert.pem");
    const san = "subjectAltName=DNS:localhost,DNS:zonerelay.test,DNS:*.zonerelay.test,IP:127.0.0.1";
    const args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=localhost"];
    args.push("-addext", san, "-keyout", keyPath, "-out", certPath);
    try {
      execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
      throw new Error(`openssl could not make the test certificate (is openssl installed?): ${stderr || err}`);
    }
    cached = { key: readFileSync(keyPath, "utf8"), cert: readFileSync(certPath, "utf8") };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
