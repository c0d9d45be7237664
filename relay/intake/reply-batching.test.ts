import type { AddressInfo, Socket } from "node:net";
import nodemailer from "nodemailer";
import { SMTPServer } from "smtp-server";
import { afterEach, describe, expect, it } from "vitest";
import { testCerts } from "../../test/support/certs.ts";
import { smtpTalk } from "../../test/support/smtp-talk.ts";
import { batchPipelinedReplies } from "./reply-batching.ts";

batchPipelinedReplies();

interface Peer {
  port: number;
  /** Each write the server's sockets handed to the kernel, with the bytes in it. */
  writes: string[];
  received: string[];
}

const servers: SMTPServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(() => r(undefined)))));
});

/** smtp-server with the batching installed; every write of its sockets (one syscall each) is recorded. */
async function peer(options: { secure?: boolean } = {}): Promise<Peer> {
  const result: Peer = { port: 0, writes: [], received: [] };
  const server = new SMTPServer({
    authOptional: true,
    ...(options.secure ? testCerts() : { disabledCommands: ["STARTTLS"] }),
    // Hooks that answer in a later microtask, as the relay's do.
    onMailFrom: (_address, _session, callback) => void Promise.resolve().then(() => callback()),
    onRcptTo: (_address, _session, callback) => void Promise.resolve().then(() => callback()),
    onData(stream, _session, callback) {
      const parts: Buffer[] = [];
      stream.on("data", (c: Buffer) => parts.push(c));
      stream.on("end", () => {
        result.received.push(Buffer.concat(parts).toString());
        callback(null);
      });
    },
  });
  servers.push(server);
  const net = (server as unknown as { server: import("node:net").Server }).server;
  net.on("connection", (socket: Socket) => record(socket, result.writes));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  result.port = (net.address() as AddressInfo).port;
  return result;
}

function record(socket: Socket, writes: string[]): void {
  const s = socket as unknown as {
    _write(chunk: Buffer | string, encoding: string, cb: () => void): void;
    _writev(chunks: { chunk: Buffer | string }[], cb: () => void): void;
  };
  const write = s._write;
  const writev = s._writev;
  s._write = function (chunk, encoding, cb) {
    writes.push(chunk.toString());
    return write.call(this, chunk, encoding, cb);
  };
  s._writev = function (chunks, cb) {
    writes.push(chunks.map((c) => c.chunk.toString()).join(""));
    return writev.call(this, chunks, cb);
  };
}

describe("pipelined replies", () => {
  it("answers MAIL, every RCPT and DATA sent in one packet with one write, in order", async () => {
    const server = await peer();
    const talk = await smtpTalk(server.port);
    await talk.send("EHLO client.test");
    server.writes.length = 0;
    talk.write(
      "MAIL FROM:<a@sender.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nRCPT TO:<d@x.test>\r\nDATA\r\n",
    );
    const replies = [await talk.read(), await talk.read(), await talk.read(), await talk.read(), await talk.read()];
    expect(replies.map((r) => r.slice(0, 3))).toEqual(["250", "250", "250", "250", "354"]);
    expect(server.writes).toHaveLength(1);
    expect(server.writes[0]!.match(/^\d{3} /gm)).toHaveLength(5);

    talk.write("Subject: hi\r\n\r\nbody\r\n.\r\n");
    expect(await talk.read()).toMatch(/^250 /);
    expect(await talk.send("QUIT")).toMatch(/^221 /);
    await talk.closed;
    expect(server.received).toEqual(["Subject: hi\r\n\r\nbody\r\n"]);
  });

  it("sends a reply that waits for the client at once, not held back", async () => {
    const server = await peer();
    const talk = await smtpTalk(server.port);
    // One command, one reply: the session would stall if it stayed corked.
    expect(await talk.send("EHLO client.test")).toMatch(/^250/);
    expect(await talk.send("NOOP")).toMatch(/^250/);
    expect(await talk.send("QUIT")).toMatch(/^221 /);
    await talk.closed;
  });

  it("puts STARTTLS's 220 on the wire before the handshake, and batches inside TLS too", async () => {
    const server = await peer({ secure: true });
    const client = nodemailer.createTransport({
      host: "127.0.0.1",
      port: server.port,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
    });
    for (let i = 0; i < 2; i++) {
      await client.sendMail({
        envelope: { from: "a@sender.test", to: ["b@x.test", "c@x.test"] },
        raw: `Subject: ${i}\r\n\r\nover TLS\r\n`,
      });
    }
    client.close();
    expect(server.received).toEqual(["Subject: 0\r\n\r\nover TLS\r\n", "Subject: 1\r\n\r\nover TLS\r\n"]);
    expect(server.writes.some((w) => w.startsWith("220 ") && /TLS/.test(w))).toBe(true);
  });

  it("says 221 before it closes on QUIT pipelined after RSET", async () => {
    const server = await peer();
    const talk = await smtpTalk(server.port);
    await talk.send("EHLO client.test");
    talk.write("RSET\r\nQUIT\r\n");
    expect(await talk.read()).toMatch(/^250/);
    expect(await talk.read()).toMatch(/^221 /);
    await talk.closed;
  });
});
