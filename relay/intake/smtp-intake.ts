// SMTP intake: one smtp-server per configured interface. Relays only for authenticated users or allow-listed
// networks, streams DATA into the submit pipeline and answers 250 only once the message is durable.
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from "smtp-server";
import type { AuthThrottle } from "../../shared/auth/auth-throttle.ts";
import { createNetworkList, isLoopback, unmapIPv4 } from "../../shared/auth/networks.ts";
import { verifyPassword } from "../../shared/auth/password.ts";
import type { Config, SmtpInterfaceConfig } from "../../shared/config/schema.ts";
import { parseAddress } from "../../shared/domain/address.ts";
import { MailError, toMailError } from "../../shared/errors.ts";
import type { Submit } from "../../shared/intake/submit-types.ts";
import type { IntakeMetrics } from "../../shared/observability/metrics.ts";
import type { PluginHost } from "../../shared/plugins/host.ts";
import { useNativeDataScan } from "./data-scan.ts";
import { keepOwnEnhancedCodes } from "./enhanced-codes.ts";
import { attachPluginHooks } from "./plugin-hooks.ts";
import { batchPipelinedReplies } from "./reply-batching.ts";

export interface SmtpIntake {
  name: string;
  port: number;
  close(): Promise<void>;
}

// RFC 6531 §3.4: a non-ASCII address is allowed only in a transaction that declared SMTPUTF8 on MAIL FROM.
const UTF8_REQUIRED = new MailError("invalid-address", "Non-ASCII address requires SMTPUTF8", undefined, {
  enhanced: "5.6.7",
});

function needsSmtpUtf8(address: SMTPServerAddress, session: SMTPServerSession): boolean {
  if (!/[^\x00-\x7f]/.test(address.address)) return false;
  const declared = address.args !== false && address.args.SMTPUTF8 === true;
  return !declared && session.envelope.smtpUtf8 !== true;
}

/** smtp-server reads `responseCode` from errors passed to its callbacks. */
function reply(err: MailError): Error & { responseCode: number } {
  return Object.assign(new Error(err.smtpText), { responseCode: err.smtpCode });
}

export async function startSmtpIntake(args: {
  name: string;
  iface: SmtpInterfaceConfig;
  config: Readonly<Config>;
  submit: Submit;
  logger: Logger;
  /** smtp:auth, smtp:mail_from and smtp:rcpt_to hooks. */
  plugins?: PluginHost;
  /** Counts sessions and refusals by reason (Prometheus). */
  metrics?: IntakeMetrics;
  /** Brute-force protection of AUTH: failures per client and per username, locked out at a limit. */
  authThrottle?: AuthThrottle;
}): Promise<SmtpIntake> {
  keepOwnEnhancedCodes();
  batchPipelinedReplies();
  const { name, iface, config, submit } = args;
  const log = args.logger.child({ smtpInterface: name });
  if (!useNativeDataScan()) log.debug("smtp-server's DATA scan is not the one data-scan.ts was checked against; kept");
  const allowed = createNetworkList(iface.allowedNetworks);
  const hasUsers = Object.keys(config.users).length > 0;

  const mayRelay = (session: SMTPServerSession) => Boolean(session.user) || allowed(session.remoteAddress);
  /** Every refusal goes through here, so each is counted by its reason. */
  const refuse = (err: MailError) => {
    args.metrics?.recordSmtpReject(name, err.kind);
    return reply(err);
  };

  const server = new SMTPServer({
    name: config.hostname,
    banner: "ZoneRelay ESMTP",
    size: iface.maxSize,
    maxClients: iface.maxClients,
    socketTimeout: iface.socketTimeout,
    authMethods: ["PLAIN", "LOGIN"],
    authOptional: true,
    // AUTH is never offered when there is nobody to authenticate.
    disabledCommands: hasUsers ? [] : ["AUTH"],
    // AUTH over plain text is checked per client in onAuth (loopback may); smtp-server must let it reach us.
    allowInsecureAuth: true,
    hideSTARTTLS: !iface.tls,
    hideENHANCEDSTATUSCODES: false, // RFC 2034: every reply carries one (ours from shared/errors.ts)
    hideDSN: true, // not implemented: never advertise what we would ignore
    hideREQUIRETLS: true,
    // The client's reverse DNS name is used nowhere (Received names the HELO and the IP); looking it up cost a DNS
    // query per connection, and up to 1.5 s each while the resolver is slow.
    disableReverseLookup: true,
    ...(iface.tls ? { key: readFileSync(iface.tls.key), cert: readFileSync(iface.tls.cert) } : {}),
    logger: false,

    onConnect(_session, callback) {
      args.metrics?.recordSmtpSession(name);
      callback();
    },

    onAuth(auth, session, callback) {
      const clientIp = unmapIPv4(session.remoteAddress);
      if (!session.secure && !isLoopback(clientIp) && !iface.allowInsecureAuth) {
        callback(
          Object.assign(new Error("5.7.11 Encryption required for requested authentication mechanism"), {
            responseCode: 538,
          }),
        );
        args.metrics?.recordSmtpReject(name, "encryption-required");
        return;
      }
      const username = auth.username ?? "";
      const user = Object.hasOwn(config.users, username) ? config.users[username] : undefined;
      const subject = { ip: clientIp, user: username };
      const throttle = args.authThrottle;
      // A locked-out client or username is told so before its credentials are looked at: no password oracle.
      const lockedFor = throttle ? throttle.lockedFor(subject) : Promise.resolve(0);
      const check = lockedFor.then((wait) => {
        if (wait > 0) {
          log.warn({ user: username, remoteAddress: clientIp, lockedForMs: wait }, "smtp auth locked out");
          throw new MailError("auth-throttled", `Too many failed logins, try again in ${Math.ceil(wait / 1000)} s`);
        }
        return user && typeof auth.password === "string"
          ? verifyPassword(auth.password, user.password)
          : Promise.resolve(false);
      });
      check.then(
        async (ok) => {
          if (!ok) {
            log.warn({ user: username, remoteAddress: clientIp }, "smtp auth failed");
            await throttle?.failed(subject);
            callback(refuse(new MailError("auth-failed", "Authentication credentials invalid")));
            return;
          }
          callback(null, { user: username });
        },
        (err) => callback(refuse(toMailError(err))),
      );
    },

    onMailFrom(address: SMTPServerAddress, session, callback) {
      if (!mayRelay(session)) {
        callback(refuse(new MailError("auth-required", "Authentication required")));
        return;
      }
      if (address.address !== "" && !parseAddress(address.address)) {
        callback(refuse(new MailError("invalid-address", "Sender address rejected: invalid address")));
        return;
      }
      if (needsSmtpUtf8(address, session)) {
        callback(refuse(UTF8_REQUIRED));
        return;
      }
      callback();
    },

    onRcptTo(address: SMTPServerAddress, session, callback) {
      // Checked again here: a client must not reach RCPT by pipelining past a refused MAIL FROM.
      if (!mayRelay(session)) {
        callback(refuse(new MailError("relay-denied", "Relay access denied")));
        return;
      }
      if (!parseAddress(address.address)) {
        callback(refuse(new MailError("invalid-address", "Recipient address rejected: invalid address")));
        return;
      }
      if (needsSmtpUtf8(address, session)) {
        callback(refuse(UTF8_REQUIRED));
        return;
      }
      if (session.envelope.rcptTo.length >= iface.maxRecipients) {
        callback(refuse(new MailError("too-many-recipients", "Too many recipients")));
        return;
      }
      callback();
    },

    onData(stream, session, callback) {
      const ended = new Promise<void>((resolve) => stream.once("end", resolve));
      const user = typeof session.user === "string" ? session.user : undefined;
      const allowedZones = user ? config.users[user]?.zones : undefined;
      const tls = session.secure ? session.tlsOptions : undefined;
      submit({
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
        to: session.envelope.rcptTo.map((r) => r.address),
        body: stream,
        source: {
          interface: "smtp",
          name,
          remoteAddress: unmapIPv4(session.remoteAddress),
          ...(user ? { user } : {}),
        },
        ...(iface.zone ? { zone: iface.zone } : {}),
        trustRoutingHeader: iface.allowRoutingHeaders,
        ...(allowedZones ? { allowedZones } : {}),
        maxSize: iface.maxSize,
        received: {
          helo: session.hostNameAppearsAs,
          protocol: `ESMTP${session.secure ? "S" : ""}${user ? "A" : ""}`,
          ...(tls && typeof tls === "object" && "name" in tls ? { tls: `${tls.version} ${tls.name}` } : {}),
        },
      }).then(
        async (result) => {
          await ended;
          callback(null, `2.0.0 Ok: queued as ${result.messageId}`);
        },
        async (err) => {
          const error = toMailError(err);
          if (!error.temporary || error.kind !== "internal") {
            log.info({ reason: error.message, remoteAddress: session.remoteAddress }, "message refused");
          } else {
            log.error({ err }, "intake failed");
          }
          stream.resume();
          await ended;
          callback(refuse(error));
        },
      );
    },
  });

  greetAtOnce(server);
  if (args.plugins) attachPluginHooks(server, { name, plugins: args.plugins, refuse });
  server.on("error", (err) => log.error({ err }, "smtp server error"));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(iface.port, iface.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  log.info({ host: iface.host, port }, "smtp intake listening");
  return {
    name,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The private parts of smtp-server's connection that greetAtOnce uses (the version is pinned by package-lock.json). */
interface ServerConnection {
  _server: { options: { maxClients?: number }; connections: Set<unknown> };
  name: string;
  init(): void;
  _setListeners(ready: () => void): void;
  connectionReady(): void;
  send(code: number, text: string, context?: unknown): void;
}

/**
 * smtp-server holds every greeting for 100 ms to catch clients that talk too soon — a spambot tell at an MX. Our
 * clients are our own applications (allow-listed networks or AUTH), and with one message per connection that pause
 * alone capped intake at sessions / 0.1 s (200 msg/s from 20 parallel clients). Here the greeting goes out as soon as
 * the socket is set up, so early talkers are no longer told apart: intake is a relay for known clients, not an MX.
 * smtp-server's connect() registers each new connection in `connections` right before calling its init(), so that
 * is where init is swapped for smtp-server 3.21's own steps without the timer.
 */
function greetAtOnce(server: SMTPServer) {
  const connections = (server as unknown as { connections: Set<ServerConnection> }).connections;
  const add = connections.add;
  connections.add = function (this: Set<ServerConnection>, connection: ServerConnection) {
    connection.init = () =>
      connection._setListeners(() => {
        const { options, connections: open } = connection._server;
        if (options.maxClients && open.size > options.maxClients) {
          connection.send(421, `${connection.name} Too many connected clients, try again in a moment`, false);
          return;
        }
        connection.connectionReady();
      });
    return add.call(this, connection);
  };
}
