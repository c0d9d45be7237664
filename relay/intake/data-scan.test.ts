import { SMTPStream } from "smtp-server/lib/smtp-stream";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../test/support/seeded-random.ts";
import { feedDataStream, isCheckedOriginal, originalFeedDataStream } from "./data-scan.ts";

interface Transcript {
  commands: string[];
  /** Each DATA's payload as the application received it, the byte count smtp-server reported, and whether it ended. */
  messages: { body: string; byteLength: number; ended: boolean }[];
}

/** Runs an SMTP client's bytes, cut into the given chunks, through one SMTPStream with the given DATA scan. */
async function transcript(scan: unknown, chunks: Buffer[]): Promise<Transcript> {
  const stream = new SMTPStream() as unknown as Omit<SMTPStream, "_feedDataStream"> & {
    _feedDataStream: unknown;
    oncommand(line: Buffer, next?: () => void): void;
    startDataMode(max?: number): NodeJS.ReadableStream & { byteLength: number };
    continue(): void;
  };
  stream._feedDataStream = scan;
  const result: Transcript = { commands: [], messages: [] };
  stream.oncommand = (line, next) => {
    const command = line.toString("binary");
    result.commands.push(command);
    if (command === "DATA") {
      const data = stream.startDataMode();
      const parts: Buffer[] = [];
      const message = { body: "", byteLength: 0, ended: false };
      result.messages.push(message);
      data.on("data", (c: Buffer) => {
        parts.push(c);
        message.body = Buffer.concat(parts).toString("binary");
        message.byteLength = data.byteLength;
      });
      data.on("end", () => {
        message.byteLength = data.byteLength;
        message.ended = true;
        stream.continue();
      });
    }
    next?.();
  };
  // Written at once, as a socket would: the stream takes them one by one. A write whose continuation never comes
  // (smtp-server waits for the application in some cases) stalls both scans alike; the transcript is what got
  // through. Escapes resume in a later turn, so it is read once ten turns in a row brought nothing new.
  for (const chunk of chunks) stream.write(chunk);
  for (let quiet = 0, seen = ""; quiet < 10; ) {
    await new Promise((r) => setImmediate(r));
    const now = JSON.stringify(result);
    quiet = now === seen ? quiet + 1 : 0;
    seen = now;
  }
  return result;
}

/** A client session: DATA payloads with dots, CRs and LFs where they make trouble, then more commands. */
function session(random: () => number): string {
  const alphabet = [".", ".", "\r", "\n", "\r\n", "\r\n.", "\n.", "\r\n..", "a", "b ", "QUIT", "\r\n.\r\n"];
  const pick = () => alphabet[Math.floor(random() * alphabet.length)]!;
  let text = "EHLO x\r\n";
  const messages = 1 + Math.floor(random() * 3);
  for (let m = 0; m < messages; m++) {
    text += "MAIL FROM:<a@b>\r\nDATA\r\n";
    const length = Math.floor(random() * 60);
    for (let i = 0; i < length; i++) text += pick();
    text += random() < 0.9 ? "\r\n.\r\n" : ".\r\n"; // sometimes a dot right after something that is not CRLF
  }
  return `${text}RSET\r\nQUIT\r\n`;
}

function cut(bytes: Buffer, random: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(random() * (random() < 0.5 ? 4 : 40));
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

describe("native DATA scan", () => {
  it("was checked against the smtp-server installed here (else it is not used)", () => {
    expect(isCheckedOriginal(originalFeedDataStream)).toBe(true);
    expect(isCheckedOriginal(feedDataStream)).toBe(false);
  });

  it("reads what smtp-server's own scan reads, on random sessions cut at random", async () => {
    const random = seededRandom(9);
    for (let round = 0; round < 400; round++) {
      const bytes = Buffer.from(session(random), "binary");
      const chunks = cut(bytes, random);
      const expected = await transcript(originalFeedDataStream, chunks);
      const actual = await transcript(feedDataStream, chunks);
      expect(actual, `round ${round}: ${JSON.stringify(bytes.toString("binary"))}`).toEqual(expected);
    }
  });

  it("ends DATA only at CRLF . CRLF, however the client splits it (SMTP smuggling)", async () => {
    const bytes = Buffer.from("DATA\r\nSubject: x\r\n\r\nhi\n.\r\nMAIL FROM:<evil@x>\r\n\r\n.\r\nQUIT\r\n", "binary");
    for (let split = 1; split < bytes.length; split++) {
      const chunks = [bytes.subarray(0, split), bytes.subarray(split)];
      const t = await transcript(feedDataStream, chunks);
      expect(t.commands).toEqual(["DATA", "QUIT"]);
      expect(t.messages[0]!.body).toBe("Subject: x\r\n\r\nhi\n.\r\nMAIL FROM:<evil@x>\r\n\r\n");
    }
  });
});
