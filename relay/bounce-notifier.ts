// Sends an RFC 3464 DSN to the envelope sender when a delivery bounces — never for the null sender <>.
import { Readable } from "node:stream";
import type { Config } from "../shared/config/schema.ts";
import type { LeasedDelivery } from "../shared/domain/envelope.ts";
import { newId } from "../shared/domain/ids.ts";
import type { Submit } from "../shared/intake/submit-types.ts";
import { composeDsn } from "../shared/mail/dsn.ts";
import type { BodyStore } from "../shared/ports/body-store.ts";
import type { AttemptResult } from "./sender/attempt.ts";

const MAX_ORIGINAL_HEADERS = 64 * 1024;

export function createBounceNotifier(deps: { config: Readonly<Config>; bodyStore: BodyStore; submit: Submit }) {
  const { config } = deps;
  const from = config.bounces.from ?? `MAILER-DAEMON@${config.hostname}`;
  return async function onBounce(d: LeasedDelivery, result: AttemptResult): Promise<void> {
    // RFC 5321 §4.5.5: a DSN is never sent about a message with a null reverse-path (no bounce loops).
    if (!config.bounces.enabled || d.message.from === "") return;
    const headers = await readHeaderBlock(deps.bodyStore, d.message.bodyId);
    const dsn = await composeDsn({
      reportingMta: config.hostname,
      from,
      to: d.message.from,
      originalEnvelopeFrom: d.message.from,
      originalMessageId: d.message.messageIdHeader,
      originalHeaders: headers,
      arrivalDate: new Date(d.message.receivedAt),
      action: "failed",
      recipients: [
        {
          recipient: d.recipient,
          status: result.status,
          ...(result.attempt.mx ? { remoteMta: result.attempt.mx } : {}),
          diagnostic: result.attempt.response,
          lastAttemptDate: new Date(result.attempt.at),
        },
      ],
      messageId: `<${newId()}.dsn@${config.hostname}>`,
    });
    await deps.submit({
      from: "",
      to: [d.message.from],
      body: Readable.from([dsn]),
      source: { interface: "internal", name: "bounces" },
      zone: d.zone,
      maxSize: Number.MAX_SAFE_INTEGER,
      received: { protocol: "local" },
    });
  };
}

/** The stored message's header block, read from the start of the body (bounded). */
async function readHeaderBlock(store: BodyStore, bodyId: string): Promise<string> {
  const stream = await store.get(bodyId);
  let text = "";
  for await (const chunk of stream) {
    text += (chunk as Buffer).toString("utf8");
    const end = text.indexOf("\r\n\r\n");
    if (end !== -1 || text.length > MAX_ORIGINAL_HEADERS) {
      stream.destroy();
      return end === -1 ? text.slice(0, MAX_ORIGINAL_HEADERS) : text.slice(0, end + 2);
    }
  }
  return text;
}
