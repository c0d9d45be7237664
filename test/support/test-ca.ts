// A test certificate authority made with openssl, trusted by the relay only through `tls.caFile`: it issues
// certificates for MX hosts and MTA-STS policy hosts of the test domains. One CA per test process.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
  /** PEM of the CA certificate, and a file holding it (for `tls.caFile`). */
  certPem: string;
  caFile: string;
  /** A key and a certificate (leaf, then the CA) for these DNS names, signed by the CA. */
  issue(names: string[]): { key: string; cert: string };
}

let cached: TestCa | undefined;

function openssl(args: string[], cwd: string) {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`openssl ${args[0]} failed (is openssl installed?): ${stderr || err}`);
  }
}

export function testCa(): TestCa {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "zr-ca-"));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    ["req", "-x509", ...ec, "-days", "30", "-subj", "/CN=ZoneRelay Test CA", "-keyout", "ca.key", "-out", "ca.pem"],
    dir,
  );
  const certPem = readFileSync(join(dir, "ca.pem"), "utf8");
  let serial = 0;
  cached = {
    certPem,
    caFile: join(dir, "ca.pem"),
    issue(names) {
      const n = ++serial;
      writeFileSync(
        join(dir, `leaf${n}.ext`),
        `subjectAltName=${names.map((name) => `DNS:${name}`).join(",")}\nbasicConstraints=CA:FALSE\n` +
          "extendedKeyUsage=serverAuth\n",
      );
      openssl(
        ["req", "-new", ...ec, "-subj", `/CN=${names[0]}`, "-keyout", `leaf${n}.key`, "-out", `leaf${n}.csr`],
        dir,
      );
      openssl(
        [
          "x509",
          "-req",
          "-in",
          `leaf${n}.csr`,
          "-CA",
          "ca.pem",
          "-CAkey",
          "ca.key",
          "-set_serial",
          String(1000 + n),
        ].concat(["-days", "7", "-extfile", `leaf${n}.ext`, "-out", `leaf${n}.pem`]),
        dir,
      );
      return {
        key: readFileSync(join(dir, `leaf${n}.key`), "utf8"),
        cert: readFileSync(join(dir, `leaf${n}.pem`), "utf8") + certPem,
      };
    },
  };
  return cached;
}
