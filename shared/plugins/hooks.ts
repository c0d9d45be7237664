// The plugin hooks: ZoneMTA's life cycle (init; smtp auth / mail from / rcpt to; message headers; message store;
// api submit; queue route; sender fetch / headers / connect / delivered; queue bounce; log entry), typed. Each
// hook's context says what a handler may read and what it may change.
import type { Transform } from "node:stream";
import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { LeasedDelivery, MessageRecord } from "../domain/envelope.ts";
import type { DkimKey } from "../mail/dkim/sign.ts";
import type { HeaderEditor } from "./header-editor.ts";

/** What an SMTP hook knows about the client's session. */
export interface SmtpSessionInfo {
  interface: string;
  remoteAddress: string;
  /** EHLO/HELO name. */
  clientHostname?: string;
  /** The authenticated user, when there is one. */
  user?: string;
  secure: boolean;
  /** Envelope so far. */
  from?: string;
  to: string[];
}

/** The envelope of a message being received. */
export interface IntakeEnvelope {
  /** Our queue id of the message. */
  id: string;
  from: string;
  to: string[];
  source: MessageRecord["source"];
}

export interface HookContexts {
  /** SMTP AUTH: set `user` to accept; throw PluginError to refuse; leave both alone to let the next decide. */
  "smtp:auth": { username: string; password: string; session: SmtpSessionInfo; user?: string };
  /** MAIL FROM: throw to refuse the sender. */
  "smtp:mail_from": { address: string; session: SmtpSessionInfo };
  /**
   * RCPT TO: throw to refuse; set `address` to rewrite the recipient (reverse SRS); set `accept` to take a
   * recipient from a client that may not relay (mail for us, e.g. bounces to SRS addresses).
   */
  "smtp:rcpt_to": { address: string; session: SmtpSessionInfo; accept?: boolean };
  /** HTTP JSON submission before it is composed: may change the request (it is the parsed body). */
  "api:submit": { request: Record<string, unknown>; caller: { keyId: string } };
  /** The header block at intake, editable (the body has not arrived yet). */
  "message:headers": { envelope: IntakeEnvelope; headers: HeaderEditor };
  /**
   * The message is about to stream into the store: push Transforms to `rewrite` to change it as it streams (each
   * gets the whole message, header block first, after message:headers). The DKIM body hash is computed after
   * every rewrite, so a rewritten message is signed as rewritten.
   */
  "message:store": { envelope: IntakeEnvelope; rewrite: Transform[] };
  /**
   * The message is stored, not yet queued: throw to refuse it (the body is removed), set `drop` to accept it
   * silently without delivering, `addHeaders` to put header fields on top at send time. `body()` reads it back.
   */
  "message:queue": {
    envelope: IntakeEnvelope;
    message: MessageRecord;
    headers: HeaderEditor;
    body(): Promise<NodeJS.ReadableStream>;
    drop?: string;
    addHeaders: [string, string][];
  };
  /** The zone of one recipient: set `zone` to route it elsewhere (a name from `zones`). */
  "queue:route": { envelope: IntakeEnvelope; recipient: string; domain: string; zone: string };
  /** A leased delivery about to be attempted: throw PluginError to defer (or, permanent, bounce) it. */
  "sender:fetch": { delivery: LeasedDelivery };
  /** Connected to the destination: may change the envelope sender (SRS) and add DKIM keys for this delivery. */
  "sender:connect": {
    delivery: LeasedDelivery;
    envelope: { from: string; to: string };
    mx: string;
    ehlo: string;
    localAddress?: string;
    dkimKeys: DkimKey[];
  };
  /** The stored header block as it will be sent (before DKIM signing, which covers these changes). */
  "sender:headers": { delivery: LeasedDelivery; headers: HeaderEditor };
  /** A delivery was accepted by the destination. */
  "sender:delivered": { delivery: LeasedDelivery; response: string; mx?: string; localAddress?: string };
  /** A delivery bounced: set `sendDsn` false to suppress the DSN. */
  "queue:bounce": { delivery: LeasedDelivery; response: string; status: string; category?: string; sendDsn: boolean };
  /** One structured log entry about a message (accepted, attempted, bounced, dropped). */
  "log:entry": { entry: Record<string, unknown> & { event: string } };
}

export type HookName = keyof HookContexts;
export type HookHandler<K extends HookName> = (ctx: HookContexts[K]) => void | Promise<void>;

/** What a plugin's `setup` gets: its options, the config, a logger, and `on` to register handlers. */
export interface PluginApi {
  /** The plugin's `options` from the config, unvalidated (validate them in setup). */
  options: Record<string, unknown>;
  config: Readonly<Config>;
  logger: Logger;
  on<K extends HookName>(hook: K, handler: HookHandler<K>): void;
  /** Called when the relay stops (close clients, timers). */
  onClose(fn: () => void | Promise<void>): void;
}

/** A plugin module's default export (or its `plugin` export). */
export interface ZoneRelayPlugin {
  name: string;
  /** The init hook: validate options, open clients, register handlers. A throw stops the start. */
  setup(api: PluginApi): void | Promise<void>;
}

export function definePlugin(plugin: ZoneRelayPlugin): ZoneRelayPlugin {
  return plugin;
}
