// A deliberately plain SMTP client for tests that check exact replies: sends one command, reads one (possibly
// multi-line) reply, so a test can walk a session step by step and see every code and text.
import { connect, type Socket } from "node:net";

export interface SmtpTalk {
  greeting: string;
  /** Sends a line (CRLF appended) and resolves with the full reply, e.g. "250-..\r\n250 ok" joined by "\n". */
  send(line: string): Promise<string>;
  /** Writes raw bytes without waiting for a reply (message data). */
  write(data: string | Buffer): void;
  /** Waits for the next reply without sending anything. */
  read(): Promise<string>;
  /** Resolves when the server closes the connection (or it breaks); a pending read() then rejects. */
  closed: Promise<void>;
  close(): void;
}

export async function smtpTalk(port: number, host = "127.0.0.1", localAddress?: string): Promise<SmtpTalk> {
  const socket: Socket = connect({ port, host, ...(localAddress ? { localAddress } : {}) });
  let buffer = "";
  const waiting: { resolve: (reply: string) => void; reject: (err: Error) => void }[] = [];
  const replies: string[] = [];
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buffer += chunk;
    // A reply ends with a line whose 4th character is a space ("250 ok"), not a dash ("250-...").
    for (;;) {
      const match = /(^|\r\n)\d{3}(?: [^\r\n]*)?\r\n/.exec(buffer);
      if (!match) break;
      const end = match.index + match[0].length;
      const reply = buffer.slice(0, end).replace(/\r\n$/, "").replace(/\r\n/g, "\n");
      buffer = buffer.slice(end);
      const next = waiting.shift();
      if (next) next.resolve(reply);
      else replies.push(reply);
    }
  });
  let isClosed = false;
  const closed = new Promise<void>((resolve) => {
    socket.once("close", () => {
      isClosed = true;
      for (const w of waiting.splice(0)) w.reject(new Error("connection closed without a reply"));
      resolve();
    });
  });
  socket.on("error", () => {}); // a reset surfaces as "close"
  const read = () =>
    new Promise<string>((resolve, reject) => {
      const queued = replies.shift();
      if (queued !== undefined) return resolve(queued);
      if (isClosed) return reject(new Error("connection closed without a reply"));
      const timer = setTimeout(() => reject(new Error("no SMTP reply within 10s")), 10_000);
      waiting.push({
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const greeting = await read();
  return {
    greeting,
    send(line) {
      socket.write(`${line}\r\n`);
      return read();
    },
    write(data) {
      socket.write(data);
    },
    read,
    closed,
    close() {
      socket.destroy();
    },
  };
}
