// Puts the plugins' SMTP hooks (smtp:auth, smtp:mail_from, smtp:rcpt_to) around smtp-server's handlers of one
// intake: a plugin decides first; what it leaves undecided goes to the built-in rules. Its refusal is the reply.
import type { SMTPServer, SMTPServerAddress, SMTPServerAuthentication, SMTPServerSession } from "smtp-server";
import { unmapIPv4 } from "../../shared/auth/networks.ts";
import { type MailError, toMailError } from "../../shared/errors.ts";
import type { SmtpSessionInfo } from "../../shared/plugins/hooks.ts";
import type { PluginHost } from "../../shared/plugins/host.ts";

type Callback = (err?: Error | null, value?: unknown) => void;
type Handler<A> = (arg: A, session: SMTPServerSession, callback: Callback) => void;

export function attachPluginHooks(
  server: SMTPServer,
  args: {
    name: string;
    plugins: PluginHost;
    /** The intake's refusal, as smtp-server expects it (and counted). */
    refuse: (err: MailError) => Error;
  },
): void {
  const { plugins, refuse } = args;
  const s = server as unknown as {
    onAuth: Handler<SMTPServerAuthentication>;
    onMailFrom: Handler<SMTPServerAddress>;
    onRcptTo: Handler<SMTPServerAddress>;
    options: { disabledCommands: string[] };
  };
  const info = (session: SMTPServerSession): SmtpSessionInfo => ({
    interface: args.name,
    remoteAddress: unmapIPv4(session.remoteAddress),
    ...(session.hostNameAppearsAs ? { clientHostname: session.hostNameAppearsAs } : {}),
    ...(typeof session.user === "string" ? { user: session.user } : {}),
    secure: session.secure,
    ...(session.envelope.mailFrom ? { from: session.envelope.mailFrom.address } : {}),
    to: session.envelope.rcptTo.map((r) => r.address),
  });

  if (plugins.has("smtp:auth")) {
    // A plugin may authenticate users the config does not list: AUTH is offered.
    s.options.disabledCommands = s.options.disabledCommands.filter((c) => c !== "AUTH");
    const builtin = s.onAuth.bind(server);
    s.onAuth = (auth, session, callback) => {
      const ctx = {
        username: auth.username ?? "",
        password: typeof auth.password === "string" ? auth.password : "",
        session: info(session),
      } as { username: string; password: string; session: SmtpSessionInfo; user?: string };
      plugins.run("smtp:auth", ctx).then(
        (done) => (done.user ? callback(null, { user: done.user }) : builtin(auth, session, callback)),
        (err) => callback(refuse(toMailError(err))),
      );
    };
  }

  // A plugin that takes mail for us (e.g. bounces to SRS addresses) needs clients that may not relay to reach RCPT.
  const inbound = plugins.has("smtp:rcpt_to");
  const builtinMailFrom = s.onMailFrom.bind(server);
  s.onMailFrom = (address, session, callback) => {
    builtinMailFrom(address, session, (err) => {
      if (err && !(inbound && (err as { responseCode?: number }).responseCode === 530)) return callback(err);
      // Without relay rights only recipients a plugin accepts get through: the built-in RCPT check refuses the rest.
      if (!plugins.has("smtp:mail_from")) return callback();
      plugins.run("smtp:mail_from", { address: address.address, session: info(session) }).then(
        () => callback(),
        (e) => callback(refuse(toMailError(e))),
      );
    });
  };

  if (inbound) {
    const builtinRcptTo = s.onRcptTo.bind(server);
    s.onRcptTo = (address, session, callback) => {
      const ctx = { address: address.address, session: info(session) } as {
        address: string;
        session: SmtpSessionInfo;
        accept?: boolean;
      };
      plugins.run("smtp:rcpt_to", ctx).then(
        (done) => {
          address.address = done.address;
          if (done.accept) return callback();
          builtinRcptTo(address, session, callback);
        },
        (err) => callback(refuse(toMailError(err))),
      );
    };
  }
}
