// Delivery status notifications to the envelope sender (RFC 3464): "failed" when a delivery bounces, "delayed"
// once when it is still deferred after `bounces.delayWarning` (3 h, ZoneMTA's default). Never a DSN that could
// loop: none for the null sender, none to our own bounce address, none about a message that is itself a report or
// an automatic reply, and at most `bounces.maxPerSender` an hour to one sender.
import { Readable } from "node:stream";
import type { Logger } from "pino";
import type { Config } from "../shared/config/schema.ts";
import type { LeasedDelivery } from "../shared/domain/envelope.ts";
import { newId } from "../shared/domain/ids.ts";
import type { Submit } from "../shared/intake/submit-types.ts";
import { composeDsn } from "../shared/mail/dsn.ts";
import { parseHeaderBlock } from "../shared/mail/headers.ts";
import type { BodyStore } from "../shared/ports/body-store.ts";
import type { Coordinator } from "../shared/ports/coordinator.ts";
import type { AttemptResult } from "./sender/attempt.ts";

const MAX_ORIGINAL_HEADERS = 64 * 1024;
const HOUR_MS = 3_600_000;

export interface DsnDeps {
  config: Readonly<Config>;
  bodyStore: BodyStore;
  submit: Submit;
  /** Counts DSNs per sender across hosts; without it there is no rate limit. */
  coordinator?: Coordinator;
  logger?: Logger;
}

type Notify = (d: LeasedDelivery, result: AttemptResult) => Promise<void>;

/** The "failed" DSN for a bounced delivery. */
export function createBounceNotifier(deps: DsnDeps): Notify {
  return (d, result) => notify(deps, d, result, "failed");
}

/** The one "delayed" DSN for a deferred delivery that crossed `bounces.delayWarning` with this attempt. */
export function createDelayNotifier(deps: DsnDeps): Notify {
  return async (d, result) => {
    if (!crossedDelayWarning(d, result.attempt.at, deps.config.bounces.delayWarning)) return;
    await notify(deps, d, result, "delayed");
  };
}

/**
 * True exactly once per delivery: this attempt is past the warning time and the one before was not (the previous
 * completion is `updatedAt`; a new delivery's is its arrival). No stored flag is needed.
 */
export function crossedDelayWarning(d: LeasedDelivery, attemptAt: number, delayWarning: number): boolean {
  if (delayWarning <= 0) return false;
  const due = d.message.receivedAt + delayWarning;
  const previous = d.attempts === 0 ? d.message.receivedAt : d.updatedAt;
  return attemptAt >= due && previous < due;
}

async function notify(deps: DsnDeps, d: LeasedDelivery, result: AttemptResult, action: "failed" | "delayed") {
  const { config } = deps;
  const from = config.bounces.from ?? `MAILER-DAEMON@${config.hostname}`;
  const log = deps.logger?.child({ msgId: d.messageId, deliveryId: d.id, action });
  // RFC 5321 §4.5.5: never a DSN about a message with a null reverse-path (no bounce loops).
  if (!config.bounces.enabled || d.message.from === "") return;
  if (addressOf(from) === d.message.from.toLowerCase() || /^mailer-daemon@/i.test(d.message.from)) {
    log?.info({ to: d.message.from }, "DSN suppressed: the sender is a mailer daemon (loop)");
    return;
  }
  const headers = await readHeaderBlock(deps.bodyStore, d.message.bodyId);
  const fields = parseHeaderBlock(headers);
  const contentType = fields.find((f) => f.key === "content-type")?.value ?? "";
  const autoSubmitted = fields.find((f) => f.key === "auto-submitted")?.value.toLowerCase() ?? "no";
  // A report about a report, or an answer to an automatic answer, is how two systems bounce mail forever.
  if (/^multipart\/report\b/i.test(contentType) || autoSubmitted.startsWith("auto-replied")) {
    log?.info({ to: d.message.from }, "DSN suppressed: the message is itself a report or an automatic reply");
    return;
  }
  if (config.bounces.maxPerSender > 0 && deps.coordinator) {
    const key = `dsn|${d.message.from.toLowerCase()}`;
    const sent = await deps.coordinator.increment(key, 1, HOUR_MS).catch(() => 0);
    if (sent > config.bounces.maxPerSender) {
      log?.warn({ to: d.message.from, sent }, "DSN suppressed: too many DSNs to this sender in an hour");
      return;
    }
  }
  const dsn = await composeDsn({
    reportingMta: config.hostname,
    from,
    to: d.message.from,
    originalEnvelopeFrom: d.message.from,
    originalMessageId: d.message.messageIdHeader,
    originalHeaders: headers,
    arrivalDate: new Date(d.message.receivedAt),
    action,
    recipients: [
      {
        recipient: d.recipient,
        status: result.status,
        ...(result.attempt.mx ? { remoteMta: result.attempt.mx } : {}),
        diagnostic: result.attempt.response,
        lastAttemptDate: new Date(result.attempt.at),
        ...(action === "delayed" ? { willRetryUntil: new Date(d.message.receivedAt + config.queue.maxQueueTime) } : {}),
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
  log?.info({ to: d.message.from }, action === "failed" ? "DSN sent" : "delay DSN sent");
}

function addressOf(from: string): string {
  return (/<([^>]+)>/.exec(from)?.[1] ?? from).trim().toLowerCase();
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
