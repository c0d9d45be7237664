// A misbehaving MX on loopback, for fault tests: it tarpits its greeting, talks garbage, drops the connection in
// DATA or never answers the final dot — or, switched to "ok", behaves and counts what it accepts.
import { createServer, type Server, type Socket } from "node:net";

export type BadMxMode =
  | "tarpit-greeting" // accepts the connection and never says 220
  | "garbage-greeting" // greets with something that is not an SMTP reply
  | "garbage-reply" // greets fine, then answers EHLO with noise
  | "drop-in-data" // closes the connection after some message data
  | "silent-after-data" // takes the whole message and never answers the final dot
  | "ok";

export interface BadMx {
  port: number;
  mode: BadMxMode;
  /** Messages accepted with 250 after the final dot ("ok" mode). */
  accepted: number;
  /** Connections received, in any mode. */
  connections: number;
  close(): Promise<void>;
}

export async function startBadMx(mode: BadMxMode): Promise<BadMx> {
  const sockets = new Set<Socket>();
  const mx: BadMx = { port: 0, mode, accepted: 0, connections: 0, close: async () => {} };
  const server: Server = createServer((socket) => {
    mx.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    serve(socket, mx);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  mx.port = (server.address() as { port: number }).port;
  mx.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return mx;
}

function serve(socket: Socket, mx: BadMx) {
  const mode = mx.mode; // a connection keeps the mode it started with
  if (mode === "tarpit-greeting") return;
  if (mode === "garbage-greeting") {
    socket.write("Xyzzy! Nothing happens.\r\n");
    return;
  }
  socket.write("220 bad-mx.test ESMTP\r\n");
  let inData = false;
  let dataBytes = 0;
  let buffer = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => {
    buffer += chunk;
    if (inData) {
      dataBytes += chunk.length;
      if (mode === "drop-in-data" && dataBytes > 0) {
        socket.destroy();
        return;
      }
      const end = buffer.indexOf("\r\n.\r\n");
      if (end === -1) {
        buffer = buffer.slice(-4);
        return;
      }
      buffer = buffer.slice(end + 5);
      inData = false;
      if (mode === "silent-after-data") return;
      mx.accepted++;
      socket.write("250 2.0.0 accepted\r\n");
    }
    for (;;) {
      const eol = buffer.indexOf("\r\n");
      if (eol === -1 || inData) return;
      const line = buffer.slice(0, eol);
      buffer = buffer.slice(eol + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (mode === "garbage-reply") {
        socket.write("lorem ipsum dolor\r\n");
      } else if (verb === "EHLO" || verb === "HELO") {
        socket.write("250-bad-mx.test\r\n250 8BITMIME\r\n");
      } else if (verb === "DATA") {
        inData = true;
        dataBytes = 0;
        socket.write("354 go ahead\r\n");
      } else if (verb === "QUIT") {
        socket.end("221 bye\r\n");
      } else {
        socket.write("250 ok\r\n"); // MAIL, RCPT, RSET, NOOP
      }
    }
  });
}
