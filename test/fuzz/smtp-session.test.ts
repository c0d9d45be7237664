// A seeded mutation fuzzer for SMTP sessions against a real in-process relay, for a bounded time (FUZZ_SECONDS,
// default 30): valid sessions are mutated (bytes flipped, inserted, deleted; lines swapped, repeated, spliced from
// other sessions; CR/LF/NUL/dot noise; random TCP segmentation) and sent. The relay must never crash or hang,
// and every reply line it sends must be a syntactically valid SMTP reply (RFC 5321 §4.2: three digits 2xx-5xx,
// then a space, a dash or the line end). A failure prints the seed and the input to replay.
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "../../shared/auth/password.ts";
import { type Random, seededRandom } from "../support/seeded-random.ts";
import { startWorld, type World } from "../support/world.ts";

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 30);
const PARALLEL = 8;

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString("base64");

/** Well-formed sessions the mutations start from (one string per line, CRLF added when sent). */
const SEEDS: string[][] = [
  ["EHLO fuzz.test", "MAIL FROM:<a@sender.test>", "RCPT TO:<b@a.test>", "DATA", "Subject: hi", "", "body", ".", "QUIT"],
  ["HELO fuzz.test", "MAIL FROM:<> SIZE=100", "RCPT TO:<c@b.test>", "RCPT TO:<d@b.test>", "RSET", "NOOP", "QUIT"],
  ["EHLO fuzz.test", `AUTH PLAIN ${plain("ann", "pw")}`, "MAIL FROM:<ann@sender.test> BODY=8BITMIME", "QUIT"],
  ["EHLO fuzz.test", "AUTH LOGIN", Buffer.from("ann").toString("base64"), Buffer.from("nope").toString("base64")],
  ["EHLO fuzz.test", "MAIL FROM:<jö@sender.test> SMTPUTF8", "RCPT TO:<ü@a.test>", "DATA", "", "..dot", ".", "QUIT"],
  ["EHLO fuzz.test", "VRFY postmaster", "EXPN list", "HELP", "STARTTLS", "BDAT 10 LAST", "QUIT"],
  // pipelined, with a header block that runs into the body
  ["EHLO x", "MAIL FROM:<a@sender.test>", "RCPT TO:<b@a.test>", "DATA", "From: a@sender.test", "X: y", " folded", "."],
];

const NOISE = ["\r", "\n", "\r\n", "\0", ".", "..", "\r\n.\r\n", "\n.\n", ":", "<", ">", "@", "%", "!", '"', " ", "\t"];
const WORDS = ["MAIL FROM:", "RCPT TO:", "DATA", "AUTH PLAIN", "EHLO", "RSET", "SIZE=999999999", "BODY=", "SMTPUTF8"];

const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

/** One mutated session as raw bytes. */
function mutate(random: Random): Buffer {
  const lines = [...pick(random, SEEDS)];
  for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
    const i = Math.floor(random() * lines.length);
    switch (Math.floor(random() * 7)) {
      case 0: // swap two lines
        [lines[i], lines[(i + 1) % lines.length]] = [lines[(i + 1) % lines.length]!, lines[i]!];
        break;
      case 1: // repeat a line, sometimes many times
        lines.splice(i, 0, ...Array<string>(random() < 0.2 ? 200 : 2).fill(lines[i]!));
        break;
      case 2: // splice in a line of another seed
        lines.splice(i, 0, pick(random, pick(random, SEEDS)));
        break;
      case 3: // drop a line
        lines.splice(i, 1);
        break;
      case 4: // noise inside a line
        {
          const l = lines[i] ?? "";
          const at = Math.floor(random() * (l.length + 1));
          lines[i] = l.slice(0, at) + pick(random, NOISE) + l.slice(at);
        }
        break;
      case 5: // a keyword where it does not belong, or an overlong argument
        lines[i] =
          random() < 0.3
            ? `${pick(random, WORDS)}${"A".repeat(Math.floor(random() * 20_000))}`
            : `${pick(random, WORDS)} ${lines[i] ?? ""}`;
        break;
      default: // a random line of random bytes
        lines.splice(
          i,
          0,
          Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256))).toString(
            "latin1",
          ),
        );
    }
  }
  const bytes = Buffer.from(`${lines.join("\r\n")}\r\n`, "latin1");
  // Byte-level flips on top, now and then.
  if (random() < 0.3) {
    for (let k = 0; k < 1 + Math.floor(random() * 5); k++)
      bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
  }
  return bytes;
}

/** Sends the bytes in random segments; resolves with everything the server said once it closes or goes quiet. */
function session(port: number, input: Buffer, random: Random): Promise<{ replies: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let replies = "";
    let idle: NodeJS.Timeout | undefined;
    let closed = false;
    const done = () => {
      clearTimeout(idle);
      socket.destroy();
      resolve({ replies, closed });
    };
    // Quiet for 200 ms after the input is sent: the server waits for more (e.g. in DATA); that is no hang.
    const quiet = () => {
      clearTimeout(idle);
      idle = setTimeout(done, 200);
    };
    socket.on("data", (d: Buffer) => {
      replies += d.toString("latin1");
      quiet();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      done();
    });
    const send = async () => {
      let at = 0;
      while (at < input.length && !socket.destroyed) {
        const n = 1 + Math.floor(random() * (random() < 0.5 ? 16 : 4096));
        socket.write(input.subarray(at, at + n));
        at += n;
        if (random() < 0.1) await new Promise((r) => setTimeout(r, 1));
      }
      quiet();
    };
    // Mostly after the greeting; sometimes at once, as an early talker (smtp-server answers 421 to those).
    if (random() < 0.1) socket.once("connect", send);
    else socket.once("data", send);
  });
}

/** RFC 5321 §4.2: every reply line is a code 2xx-5xx followed by a space, a dash or nothing. */
function invalidReplyLines(replies: string): string[] {
  const lines = replies.split("\r\n");
  lines.pop(); // the part after the last CRLF: empty, or cut off by our close
  return lines.filter((l) => !/^[2-5]\d\d(?:[ -]|$)/.test(l));
}

let world: World;
beforeAll(async () => {
  world = await startWorld({
    relay: {
      users: { ann: { password: await hashPassword("pw") } },
      smtpInterfaces: { feeder: { maxSize: "256KB", maxRecipients: 5, socketTimeout: "5s" } },
    },
  });
});
afterAll(async () => {
  await world?.close();
});

describe("SMTP session fuzzing", () => {
  it(
    `keeps answering with valid replies to ${SECONDS} s of mutated sessions`,
    async () => {
      const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const random = seededRandom(seed);
      const deadline = Date.now() + SECONDS * 1000;
      let sessions = 0;
      let queued = 0;
      let failure: { input: string; problem: string } | undefined;

      const worker = async () => {
        while (Date.now() < deadline && !failure) {
          const input = mutate(random);
          const { replies } = await session(world.relay.smtpPort, input, random);
          sessions++;
          queued += replies.split("queued as").length - 1;
          const bad = invalidReplyLines(replies);
          if (!/^(220|421) /.test(replies))
            failure = { input: input.toString("latin1"), problem: `greeting: ${replies.slice(0, 80)}` };
          else if (bad.length)
            failure = {
              input: input.toString("latin1"),
              problem: `invalid reply lines: ${JSON.stringify(bad.slice(0, 3))}`,
            };
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));

      // Still alive and well: a clean session goes through, the API answers.
      const health = await fetch(`${world.relay.apiUrl}/health`);
      const { replies } = await session(
        world.relay.smtpPort,
        Buffer.from("EHLO after.test\r\nNOOP\r\nQUIT\r\n"),
        () => 0.99,
      );
      const report = `[smtp-fuzz] seed ${seed} (FUZZ_SEED=${seed}), ${sessions} sessions, ${queued} messages queued`;
      console.log(report);
      expect(
        failure,
        `${report}\ninput: ${JSON.stringify(failure?.input.slice(0, 2000))}\n${failure?.problem}`,
      ).toBeUndefined();
      expect(health.status).toBe(200);
      expect(replies).toMatch(/^220 [\s\S]*\r\n221 /);
      expect(sessions).toBeGreaterThan(SECONDS * 5);
    },
    (SECONDS + 60) * 1000,
  );
});
