// Replies to pipelined commands in one write. smtp-server writes each reply as it is made: a client that pipelines
// MAIL, ten RCPTs and DATA in one packet (nodemailer does, as most MTAs) gets twelve write(2)s, each waking it up.
// RFC 2920 §3.1 lets a server hold its replies while the pipelined commands are worked on, as long as it flushes
// before it waits for more input. Here the first reply corks the socket and a process.nextTick uncorks it: that tick
// runs once the promise chain of the hooks has run dry, so every command of the chunk that was read has been
// answered (one writev), and nothing is held past the current callback. A lock-step client (smtp-source) is
// answered as before, at the price of one tick per reply.
import { SMTPConnection } from "smtp-server/lib/smtp-connection";

/** The reply that goes out at once: 220 (the greeting, or STARTTLS: the handshake takes the socket next). */
const READY = 220;
const pending = Symbol("zonerelay.replyFlushPending");

interface CorkableSocket {
  destroyed: boolean;
  cork(): void;
  uncork(): void;
  [pending]?: boolean;
}

let installed = false;

export function batchPipelinedReplies(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as {
    send(code: number, data: unknown, context?: unknown): void;
    _socket?: CorkableSocket;
  };
  const original = proto.send;
  proto.send = function send(code, data, context) {
    const socket = this._socket;
    if (!socket || socket.destroyed) return original.call(this, code, data, context);
    if (!socket[pending] && code !== READY) {
      socket[pending] = true;
      socket.cork();
      process.nextTick(flush, socket);
    }
    original.call(this, code, data, context);
    // close() ends the socket (221, 421), which writes what is corked first; a STARTTLS 220 must be on the wire
    // before the TLS socket takes the connection over.
    if (code === READY) flush(socket);
  };
}

function flush(socket: CorkableSocket): void {
  if (!socket[pending]) return;
  socket[pending] = false;
  socket.uncork();
}
