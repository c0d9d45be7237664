// A real SMTP server on loopback that records what it receives and answers scripted replies: the MX under test.
//
// Built-in scripted recipients, chosen by the start of the local part (so a test can make its own unique address,
// e.g. `tempfail-once-42@example.test`):
//   tempfail…       RCPT 451 4.3.0              permfail…  RCPT 550 5.1.1 user unknown
//   tempfail-once…  RCPT 451 4.3.0 the first time this sink sees that exact address, accepted afterwards
//   full…           RCPT 552 5.2.2 mailbox full (RFC 5321 §4.5.3.1.10: a client should treat it as 452)
//   datafail…       554 5.7.1 after the final dot of DATA (the whole transaction fails; not recorded)
import type { Readable } from "node:stream";
import { SMTPServer, type SMTPServerAddress, type SMTPServerError, type SMTPServerSession } from "smtp-server";
import { testCerts } from "./certs.ts";

export interface SinkMessage {
  from: string;
  to: string[];
  /** The message as received (dot-unstuffed); empty when `discardBody`. */
  raw: Buffer;
  size: number;
  remoteAddress: string;
  localPort: number;
  secure: boolean;
  /** The name the client gave with EHLO/HELO. */
  clientHostname: string;
  /** The client sent MAIL FROM with SMTPUTF8 (RFC 6531). */
  utf8: boolean;
  connectionId: string;
  /** The AUTH user, when the sink required one. */
  user?: string | undefined;
  receivedAt: number;
}

export interface SinkReply {
  code: number;
  message: string;
}

export interface SinkOptions {
  /** Loopback only; default 127.0.0.1. */
  host?: string;
  /** 0 (default) lets the kernel pick. */
  port?: number;
  /** Offer STARTTLS with `testCerts()`. */
  tls?: boolean;
  /** Offer STARTTLS with this key and certificate chain instead (e.g. one from the test CA, test/support/test-ca.ts). */
  tlsCert?: { key: string; cert: string };
  /** Advertise STARTTLS, answer 220, then fail the handshake with a TLS alert and close (plain-text fallback tests). */
  brokenTls?: boolean;
  /** Default true; false hides SMTPUTF8 from EHLO and refuses MAIL FROM … SMTPUTF8 and non-ASCII addresses. */
  smtputf8?: boolean;
  /** Count the body but do not keep it (for very large messages). */
  discardBody?: boolean;
  /** Text after "220 <name> ESMTP". */
  greeting?: string;
  /** Decides a RCPT before the built-in scripted recipients; undefined falls through, 2xx accepts. */
  rcptReply?: (rcpt: string, session: SMTPServerSession) => SinkReply | undefined;
  /** Decides the reply after DATA before the built-ins; undefined falls through, 2xx accepts with that text. */
  dataReply?: (msg: SinkMessage, session: SMTPServerSession) => SinkReply | undefined;
  /** Require AUTH (PLAIN/LOGIN) with these credentials, as a smarthost would; combine with `tls`. */
  auth?: { user: string; pass: string };
  /** Waits this long before answering DATA: a slow MX, so concurrency and in-flight kills can be observed. */
  dataDelayMs?: number;
}

export interface Sink {
  port: number;
  host: string;
  /** Accepted messages, in order. */
  messages: SinkMessage[];
  /** Total accepted TCP connections. */
  connections: number;
  /** Connections open right now, and the most ever open at once. */
  openConnections: number;
  peakConnections: number;
  /** MAIL FROM and RCPT TO command lines exactly as received (smtp-server shows A-label domains decoded). */
  commands: string[];
  /** Resolves with all messages once at least `n` have arrived; rejects after `timeoutMs` (default 10 s). */
  waitForMessages(n: number, timeoutMs?: number): Promise<SinkMessage[]>;
  /** Forgets messages, the connection count and which tempfail-once addresses were seen. */
  reset(): void;
  close(): Promise<void>;
}

const SINK_NAME = "sink.zonerelay.test";
// TLS record: alert (21), version 3.3, length 2, level fatal (2), description handshake_failure (40)
const TLS_HANDSHAKE_FAILURE_ALERT = Buffer.from([21, 3, 3, 0, 2, 2, 40]);

function smtpError(reply: SinkReply): SMTPServerError {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

function localPart(address: string): string {
  const at = address.lastIndexOf("@");
  return (at < 0 ? address : address.slice(0, at)).toLowerCase();
}

// Bytes outside ASCII (the check for SMTPUTF8).
const NON_ASCII = /[^\x00-\x7f]/;

interface Waiter {
  n: number;
  resolve: (messages: SinkMessage[]) => void;
}

class SmtpSink implements Sink {
  port = 0;
  messages: SinkMessage[] = [];
  connections = 0;
  openConnections = 0;
  peakConnections = 0;
  commands: string[] = [];
  private readonly seenOnce = new Set<string>();
  private waiters: Waiter[] = [];
  private readonly server: SMTPServer;

  constructor(
    readonly host: string,
    private readonly opts: SinkOptions,
  ) {
    const offerTls = opts.tls === true || opts.brokenTls === true || opts.tlsCert !== undefined;
    this.server = new SMTPServer({
      name: SINK_NAME,
      banner: opts.greeting,
      logger: false,
      disableReverseLookup: true,
      authOptional: !opts.auth,
      authMethods: ["PLAIN", "LOGIN"],
      disabledCommands: [...(opts.auth ? [] : ["AUTH"]), ...(offerTls ? [] : ["STARTTLS"])],
      onAuth: (auth, _session, callback) => {
        const ok = opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass;
        callback(
          ok ? null : Object.assign(new Error("5.7.8 Authentication credentials invalid"), { responseCode: 535 }),
          ok ? { user: auth.username } : undefined,
        );
      },
      ...(offerTls ? (opts.tlsCert ?? testCerts()) : {}),
      hideSMTPUTF8: opts.smtputf8 === false,
      maxAllowedUnauthenticatedCommands: false,
      onConnect: (session, callback) => {
        this.connections++;
        this.openConnections++;
        this.peakConnections = Math.max(this.peakConnections, this.openConnections);
        if (opts.brokenTls) this.breakStartTls(session.id);
        this.recordCommands(session.id);
        callback();
      },
      onMailFrom: (address, session, callback) => callback(this.utf8Refusal(address, session)),
      onRcptTo: (address, session, callback) => {
        const refusal = this.utf8Refusal(address, session);
        if (refusal) return callback(refusal);
        const reply = opts.rcptReply?.(address.address, session) ?? this.scriptedRcpt(address.address);
        callback(reply && reply.code >= 400 ? smtpError(reply) : null);
      },
      onData: (stream, session, callback) => {
        this.receive(stream, session).then(
          (reply) => (reply.code >= 400 ? callback(smtpError(reply)) : callback(null, reply.message)),
          (err: Error) => callback(err),
        );
      },
    });
    // onConnect has no counterpart option; the connection's own close event ends it.
    this.server.server.on("connection", (socket) => {
      socket.once("close", () => {
        this.openConnections--;
      });
    });
    // Client aborts, TLS failures (on purpose with brokenTls) and resets surface here; a sink must outlive them.
    this.server.on("error", () => {});
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.server.once("error", onError);
      this.server.listen(port, this.host, () => {
        this.server.server.off("error", onError);
        const address = this.server.server.address();
        if (address && typeof address === "object") this.port = address.port;
        resolve();
      });
    });
  }

  waitForMessages(n: number, timeoutMs = 10_000): Promise<SinkMessage[]> {
    if (this.messages.length >= n) return Promise.resolve([...this.messages]);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        n,
        resolve: (messages) => {
          clearTimeout(timer);
          resolve(messages);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `sink ${this.host}:${this.port} got ${this.messages.length} of ${n} messages within ${timeoutMs} ms ` +
              `(${this.connections} connections)`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  reset(): void {
    this.messages.length = 0;
    this.connections = 0;
    this.peakConnections = this.openConnections;
    this.seenOnce.clear();
    this.commands.length = 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      // Test teardown should not wait for smtp-server's 30 s grace period on pooled client connections.
      for (const connection of this.server.connections) {
        connection.send(421, "4.3.2 Sink shutting down");
        connection.close();
      }
    });
  }

  private scriptedRcpt(address: string): SinkReply | undefined {
    const local = localPart(address);
    if (local.startsWith("tempfail-once")) {
      if (this.seenOnce.has(address)) return undefined;
      this.seenOnce.add(address);
      return { code: 451, message: "4.3.0 Temporary failure, try again later (first attempt)" };
    }
    if (local.startsWith("tempfail")) return { code: 451, message: "4.3.0 Temporary failure, try again later" };
    if (local.startsWith("permfail")) return { code: 550, message: "5.1.1 User unknown" };
    if (local.startsWith("full")) return { code: 552, message: "5.2.2 Mailbox full" };
    return undefined;
  }

  // RFC 6531 §3.4: SMTPUTF8 only when offered; §3.7.4.1: non-ASCII addresses need it. smtp-server decodes an
  // A-label domain to Unicode, so the address is judged as the client wrote it (the raw command line).
  private utf8Refusal(address: SMTPServerAddress, session: SMTPServerSession): SMTPServerError | null {
    const asked = address.args !== false && address.args.SMTPUTF8 === true;
    if (asked && this.opts.smtputf8 === false) {
      return smtpError({ code: 555, message: "5.5.4 SMTPUTF8 is not supported" });
    }
    // Commands are handled in order, so each MAIL/RCPT takes the next raw line of its connection.
    const raw = this.rawLines.get(session.id)?.shift() ?? address.address;
    if (NON_ASCII.test(raw) && !asked && !session.envelope.smtpUtf8) {
      return smtpError({ code: 553, message: "5.6.7 Non-ASCII address requires SMTPUTF8" });
    }
    return null;
  }

  private async receive(stream: Readable, session: SMTPServerSession): Promise<SinkReply> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (!this.opts.discardBody) chunks.push(chunk);
    }
    const { envelope } = session;
    const msg: SinkMessage = {
      from: envelope.mailFrom ? envelope.mailFrom.address : "",
      to: envelope.rcptTo.map((r) => r.address),
      raw: Buffer.concat(chunks),
      size,
      remoteAddress: session.remoteAddress,
      localPort: session.localPort,
      secure: session.secure,
      clientHostname: session.hostNameAppearsAs || "",
      utf8: envelope.smtpUtf8 === true,
      connectionId: session.id,
      user: typeof session.user === "string" ? session.user : undefined,
      receivedAt: Date.now(),
    };
    if (this.opts.dataDelayMs) await new Promise((r) => setTimeout(r, this.opts.dataDelayMs));
    const reply =
      this.opts.dataReply?.(msg, session) ??
      (msg.to.some((to) => localPart(to).startsWith("datafail"))
        ? { code: 554, message: "5.7.1 Message rejected by policy" }
        : { code: 250, message: "2.0.0 OK: message queued" });
    if (reply.code < 400) this.record(msg);
    return reply;
  }

  private record(msg: SinkMessage): void {
    this.messages.push(msg);
    const ready = this.waiters.filter((w) => this.messages.length >= w.n);
    this.waiters = this.waiters.filter((w) => this.messages.length < w.n);
    for (const w of ready) w.resolve([...this.messages]);
  }

  private readonly rawLines = new Map<string, string[]>();

  /** Keeps the raw MAIL FROM / RCPT TO lines of a plain-text connection (before smtp-server parses them). */
  private recordCommands(connectionId: string): void {
    for (const connection of this.server.connections) {
      if (connection.id !== connectionId) continue;
      let pending = "";
      this.rawLines.set(connectionId, []);
      const socket = connection._socket;
      socket.prependListener("data", (chunk: Buffer) => {
        pending += chunk.toString("utf8");
        const lines = pending.split("\r\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          if (!/^(MAIL FROM|RCPT TO):/i.test(line)) continue;
          this.commands.push(line);
          this.rawLines.get(connectionId)?.push(line);
        }
      });
      socket.once("close", () => this.rawLines.delete(connectionId));
    }
  }

  // Replaces this connection's STARTTLS upgrade. smtp-server has already sent "220 Ready to start TLS"; the client's
  // ClientHello is answered with a fatal handshake_failure alert (RFC 8446 §6.2) and the connection is closed.
  private breakStartTls(connectionId: string): void {
    for (const connection of this.server.connections) {
      if (connection.id !== connectionId) continue;
      connection.upgrade = () => {
        const socket = connection._socket;
        socket.unpipe(); // the command parser must not read the ClientHello
        socket.once("data", () => socket.end(TLS_HANDSHAKE_FAILURE_ALERT, () => socket.destroy()));
        socket.resume(); // unpipe() paused it
      };
    }
  }
}

/** Starts a sink on loopback; `port: 0` (the default) lets the kernel pick. */
export async function startSink(opts: SinkOptions = {}): Promise<Sink> {
  const host = opts.host ?? "127.0.0.1";
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) && host !== "::1") {
    throw new Error(`startSink: host must be a loopback address, got ${host}`);
  }
  const sink = new SmtpSink(host, opts);
  await sink.listen(opts.port ?? 0);
  return sink;
}
