// One outbound SMTP connection (nodemailer's SMTPConnection) with promises, TLS facts and error translation.

import { isIP } from "node:net";
import type { Readable } from "node:stream";
import type { SecureContext, TLSSocket } from "node:tls";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import type { TlsCheck } from "../tls-policy/policy.ts";
import { passCleanChunks } from "./data-stream.ts";
import { DeliveryError, type Stage } from "./delivery-error.ts";

export interface ConnectOptions {
  /** MX host name (TLS SNI, logs). */
  host: string;
  /** The address to connect to. */
  address: string;
  port: number;
  /** Local address to bind, undefined = OS choice. */
  localAddress?: string;
  /** EHLO name. */
  name: string;
  /** false after a TLS handshake failure: the retry goes in plain text (opportunistic policy only). */
  useTls: boolean;
  timeouts: { connect: number; greeting: number; socket: number };
  /** AUTH for a smarthost; sent only once the connection is encrypted. */
  auth?: { user: string; pass: string };
  /**
   * The TLS policy for this host (relay/tls-policy): `check` runs once the session is up, before MAIL FROM; when
   * `enforce`, STARTTLS is required and a failed check closes the connection with a temporary error.
   */
  tlsPolicy?: {
    enforce: boolean;
    /** Trusted CAs as a context built once (relay/tls-policy); Node's default store without it. */
    secureContext?: SecureContext;
    check(session: { secure: boolean; socket?: TLSSocket | undefined }): TlsCheck;
  };
}

const STAGE_OF_COMMAND: Record<string, Stage> = {
  CONN: "connect",
  EHLO: "ehlo",
  HELO: "ehlo",
  STARTTLS: "starttls",
  "MAIL FROM": "mail",
  "RCPT TO": "rcpt",
  DATA: "data",
};

interface NodemailerError extends Error {
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

/** `duringTls`: the error came while the STARTTLS handshake was running (nodemailer reports those as ESOCKET). */
function translate(err: NodemailerError, host: string, duringTls = false): DeliveryError {
  const stage = STAGE_OF_COMMAND[err.command ?? ""] ?? (err.responseCode ? "data" : "network");
  const text = err.response ?? err.message;
  return new DeliveryError(text, {
    ...(err.responseCode ? { code: err.responseCode } : {}),
    errorCode: err.originalCode ?? err.code ?? "ECONNECTION",
    stage: duringTls || err.code === "ETLS" ? "starttls" : stage,
    mx: host,
  });
}

/**
 * A STARTTLS failure under an enforced policy: temporary whatever the server replied (a 5xx to STARTTLS must not
 * bounce the message; it is deferred and tried again, then bounced only after maxQueueTime).
 */
function tlsRequired(err: NodemailerError, failure: DeliveryError, host: string): DeliveryError {
  const offered = err.code !== "ETLS";
  return new DeliveryError(
    offered
      ? `4.7.5 TLS required by policy, the handshake with ${host} failed: ${failure.message}`
      : `4.7.5 TLS required by policy, ${host} does not offer STARTTLS: ${failure.message}`,
    {
      errorCode: "ETLS",
      stage: "starttls",
      mx: host,
      tlsResult: offered ? "validation-failure" : "starttls-not-supported",
    },
  );
}

const recipientRejected = new DeliveryError("Recipient rejected", { stage: "rcpt" });

export class SmtpClient {
  uses = 0;
  lastUsedAt = Date.now();
  /** The TLS policy check of this session, when a policy was given. */
  tlsCheck: TlsCheck | undefined;
  private broken = false;

  private constructor(
    private readonly connection: SMTPConnection,
    readonly options: ConnectOptions,
  ) {
    connection.on("error", () => {
      this.broken = true;
    });
    connection.on("end", () => {
      this.broken = true;
    });
    // nodemailer makes one DataStream per message (an internal method, pinned by package-lock.json).
    const internals = connection as unknown as {
      _createSendStream(callback: unknown): Parameters<typeof passCleanChunks>[0];
    };
    const createSendStream = internals._createSendStream;
    internals._createSendStream = function (this: SMTPConnection, callback: unknown) {
      const stream = createSendStream.call(this, callback);
      passCleanChunks(stream);
      return stream;
    };
  }

  static connect(options: ConnectOptions): Promise<SmtpClient> {
    const policy = options.tlsPolicy;
    const enforce = policy?.enforce === true;
    const connection = new SMTPConnection({
      host: options.address,
      port: options.port,
      name: options.name,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      secure: false,
      ignoreTLS: !options.useTls && !enforce,
      // Under an enforced policy STARTTLS is required; otherwise a refused STARTTLS (4xx/5xx) goes on in plain
      // text and a failed handshake is retried by the caller.
      requireTLS: enforce,
      opportunisticTLS: !enforce,
      // Opportunistic TLS does not authenticate the peer (RFC 7435); the policy's check below does, after the
      // handshake (DANE-EE certificates need not chain to any CA, so the handshake itself never rejects).
      tls: {
        rejectUnauthorized: false,
        // SNI carries host names only (RFC 6066 §3); Node warns (DEP0123) when given an address.
        ...(isIP(options.host) ? {} : { servername: options.host }),
        ...(policy?.secureContext ? { secureContext: policy.secureContext } : {}),
      },
      connectionTimeout: options.timeouts.connect,
      greetingTimeout: options.timeouts.greeting,
      socketTimeout: options.timeouts.socket,
      allowInternalNetworkInterfaces: true,
    } as SMTPConnection.Options);
    return new Promise((resolve, reject) => {
      const onError = (err: NodemailerError) => {
        const failure = translate(err, options.host, connection.upgrading === true);
        reject(enforce && failure.details.stage === "starttls" ? tlsRequired(err, failure, options.host) : failure);
      };
      connection.once("error", onError);
      connection.connect(() => {
        const check = policy?.check({ secure: connection.secure, socket: connection._socket as TLSSocket });
        if (enforce && check && !check.ok) {
          connection.off("error", onError);
          connection.close();
          reject(
            new DeliveryError(`4.7.5 TLS policy not met by ${options.host}: ${check.result}: ${check.reason}`, {
              errorCode: "ETLS",
              stage: "starttls",
              mx: options.host,
              tlsResult: check.result,
            }),
          );
          return;
        }
        const ready = () => {
          connection.off("error", onError);
          const client = new SmtpClient(connection, options);
          client.tlsCheck = check;
          resolve(client);
        };
        if (!options.auth) return ready();
        if (!connection.secure) {
          connection.close();
          reject(
            new DeliveryError("4.7.10 Smarthost offered no TLS: credentials are never sent in plain text", {
              errorCode: "ETLS",
              stage: "starttls",
              mx: options.host,
            }),
          );
          return;
        }
        connection.login({ user: options.auth.user, pass: options.auth.pass }, (err) => {
          if (!err) return ready();
          connection.close();
          reject(translate(err as NodemailerError, options.host));
        });
      });
    });
  }

  get usable(): boolean {
    return !this.broken && !this.connection.destroyed;
  }

  get secure(): boolean {
    return this.connection.secure;
  }

  /** Negotiated protocol and cipher suite ("TLSv1.3", "TLS_AES_256_GCM_SHA384"), when encrypted. */
  get tlsSession(): { version: string; cipher: string } | undefined {
    const socket = this.connection._socket as TLSSocket | undefined;
    if (!this.connection.secure || typeof socket?.getCipher !== "function") return undefined;
    const cipher = socket.getCipher();
    return { version: socket.getProtocol() ?? cipher.version, cipher: cipher.standardName ?? cipher.name };
  }

  get localAddress(): string | undefined {
    const socket = this.connection._socket;
    return socket ? socket.localAddress : this.options.localAddress;
  }

  /** SMTPUTF8 as announced in EHLO (RFC 6531); nodemailer keeps the list privately. */
  get supportsSmtpUtf8(): boolean {
    const ext = (this.connection as unknown as { _supportedExtensions?: string[] })._supportedExtensions;
    return Array.isArray(ext) && ext.includes("SMTPUTF8");
  }

  /** Sends one transaction; resolves with the server's final reply. */
  async send(from: string, to: string, body: Readable): Promise<string> {
    const [outcome] = await this.sendEach(from, [to], body);
    if (outcome instanceof DeliveryError) throw outcome;
    return outcome!;
  }

  /**
   * Sends one transaction to several recipients, a RCPT TO each (RFC 5321 §3.3). Resolves with one outcome per
   * recipient, in order: the server's final reply to the message, or that recipient's refusal at RCPT. Rejects
   * when the transaction failed as a whole (connection, MAIL FROM, DATA), and when its only recipient was refused.
   */
  sendEach(from: string, to: string[], body: Readable): Promise<(string | DeliveryError)[]> {
    this.uses++;
    this.lastUsedAt = Date.now();
    const host = this.options.host;
    const refusalOf = (errors: NodemailerError[] | undefined, recipient: string) => {
      const refused = errors?.find((e) => (e as { recipient?: string }).recipient === recipient);
      return refused ? translate(refused, host) : undefined;
    };
    return new Promise((resolve, reject) => {
      this.connection.send({ from, to, use8BitMime: true } as SMTPConnection.Envelope, body, (err, info) => {
        if (err) {
          body.destroy();
          const refusals = (err as { rejectedErrors?: NodemailerError[] }).rejectedErrors;
          // Every recipient refused at RCPT: each keeps its own reply (one may be 4xx, another 5xx).
          if (to.length > 1 && refusals?.length === to.length) {
            resolve(to.map((r) => refusalOf(refusals, r) ?? translate(err as NodemailerError, host)));
            return;
          }
          reject(translate(err as NodemailerError, host));
          return;
        }
        const refusals = info.rejectedErrors as NodemailerError[] | undefined;
        const response = info.response ?? "250 OK";
        resolve(to.map((r) => (info.rejected?.includes(r) ? (refusalOf(refusals, r) ?? recipientRejected) : response)));
      });
    });
  }

  /** RSET after a failed transaction, so the connection can carry the next one. */
  reset(): Promise<boolean> {
    if (!this.usable) return Promise.resolve(false);
    return new Promise((resolve) => this.connection.reset((err) => resolve(!err)));
  }

  close() {
    this.broken = true;
    try {
      this.connection.quit();
    } catch {
      this.connection.close();
    }
    // quit() waits for the server's 221; do not keep a half-closed socket around forever.
    setTimeout(() => this.connection.close(), 5000).unref();
  }
}
