// The Postfix test peer started by `scripts/services.sh up`: where it listens and how to find the mail it stored.
import { readdir, readFile, stat } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";

export const POSTFIX = {
  host: "127.0.0.1",
  port: 10025,
  /** Any local part is accepted; every other domain gets 554 5.7.1 relay access denied. */
  domain: "postfix.test",
  /** Maildir base: every message lands in `<maildir>/postfix.test/new/`. */
  maildir: "/var/lib/zonerelay-test/postfix-mail",
} as const;

const HOW_TO_START = "run `bash scripts/services.sh up` as root (npm test does)";

// Maildir files from earlier runs stay; by default only recent ones are read (tests use unique markers anyway).
const PROCESS_START = Date.now();

/** Throws a clear error unless the Postfix peer answers with a 220 banner: tests that need it fail, never skip. */
export function assertPostfixUp(timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(POSTFIX.port, POSTFIX.host);
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`Postfix test peer not usable on ${POSTFIX.host}:${POSTFIX.port} (${why}); ${HOW_TO_START}`));
    };
    socket.setTimeout(timeoutMs, () => fail("no banner"));
    socket.once("error", (err) => fail(err.message));
    socket.once("data", (data) => {
      if (!data.toString().startsWith("220")) return fail(`banner ${JSON.stringify(data.toString().trim())}`);
      socket.end("QUIT\r\n");
      resolve();
    });
  });
}

async function maildirFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /(^|\/)(new|cur)$/.test(e.parentPath))
    .map((e) => join(e.parentPath, e.name));
}

/**
 * Polls the Postfix Maildir (`new/` and `cur/`, recursively) until a message matches `predicate`, and returns it.
 * Only files written since `since` (default: a minute before this process started) are considered.
 */
export async function waitForPostfixMail(
  predicate: (raw: string) => boolean,
  timeoutMs = 20_000,
  since = PROCESS_START - 60_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const checked = new Set<string>(); // Maildir files never change once delivered; read each once
  for (;;) {
    let files: string[];
    try {
      files = await maildirFiles(POSTFIX.maildir);
    } catch (err) {
      throw new Error(`cannot read the Postfix Maildir ${POSTFIX.maildir} (${err}); ${HOW_TO_START}`);
    }
    for (const file of files) {
      if (checked.has(file)) continue;
      checked.add(file);
      // A file may move from new/ to cur/ between listing and reading; it is found again under its new name.
      const info = await stat(file).catch(() => undefined);
      if (!info || info.mtimeMs < since) continue;
      const raw = await readFile(file, "utf8").catch(() => undefined);
      if (raw !== undefined && predicate(raw)) return raw;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `no matching message in ${POSTFIX.maildir} within ${timeoutMs} ms (is Postfix up? ${HOW_TO_START})`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
