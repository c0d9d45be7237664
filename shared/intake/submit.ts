// The submit pipeline shared by SMTP and HTTP intake: stream the message through size limit, CRLF normalisation
// and header processing into the BodyStore, then enqueue one delivery per recipient. Only when both are durable
// does the caller get a result (and its client a 250/202).
import { PassThrough, type Readable, type Transform } from "node:stream";
import type { Logger } from "pino";
import { parseAddress } from "../domain/address.ts";
import type { MessageRecord, NewDelivery } from "../domain/envelope.ts";
import { newId } from "../domain/ids.ts";
import { MailError, toMailError } from "../errors.ts";
import { type BodyCanonicalization, DkimBodyHasher } from "../mail/dkim/body-hash.ts";
import { type HeaderInfo, HeaderProcessor } from "../mail/header-processor.ts";
import { formatRfc5322Date, headerValue } from "../mail/headers.ts";
import { CrlfNormalizer } from "../mail/line-endings.ts";
import { SizeLimit } from "../mail/size-limit.ts";
import { HeaderEditor } from "../plugins/header-editor.ts";
import type { HookContexts, IntakeEnvelope } from "../plugins/hooks.ts";
import type { PluginHost } from "../plugins/host.ts";
import type { BodyStore } from "../ports/body-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { Queue } from "../ports/queue.ts";
import { pipeStreams } from "../streams/pipe-streams.ts";
import { receivedHeader } from "./received-header.ts";
import { type Router, SENDING_ZONE_HEADER } from "./routing.ts";
import type { Submit, SubmitInput, SubmitResult } from "./submit-types.ts";

export interface SubmitDeps {
  queue: Queue;
  bodyStore: BodyStore;
  clock: Clock;
  hostname: string;
  /** Names of the configured zones. */
  zones: readonly string[];
  /** Hold messages whose Date header lies ahead (5 min … 1 year) until that time. */
  holdFutureDated?: boolean;
  /** Picks the zone of each recipient when the caller did not name one (default: always "default"). */
  route?: Router;
  logger: Logger;
  /** How long an Idempotency-Key is remembered. */
  idempotencyTtl?: number;
  /** message:headers, message:store, message:queue, queue:route and log:entry hooks. */
  plugins?: PluginHost;
  /** DKIM body canonicalisations whose hashes are computed while the body streams into the store. */
  dkimCanonicalizations?: readonly BodyCanonicalization[];
  /** Told which zones got new work, so an in-process sender wakes up without polling. */
  onQueued?: (zones: string[]) => void;
}

const MAX_RECEIVED = 35;
const MAX_HEADER_BYTES = 1024 * 1024;

export function createSubmit(deps: SubmitDeps): Submit {
  return async function submit(input: SubmitInput): Promise<SubmitResult> {
    const explicitZone = checkExplicitZone(input, deps.zones);
    const recipients = uniqueRecipients(input.to);
    if (input.from !== "" && !parseAddress(input.from)) {
      throw new MailError("invalid-address", `Invalid sender address ${JSON.stringify(input.from)}`, "from");
    }
    const storageProblem = deps.queue.unhealthyReason() ?? deps.bodyStore.unhealthyReason();
    if (storageProblem) {
      input.body.resume(); // drain so the client sees our reply rather than a stalled socket
      throw new MailError("storage-unavailable", `Storage unavailable (${storageProblem}), try again later`);
    }

    const now = deps.clock.now();
    const id = newId(now);
    const plugins = deps.plugins;
    const envelope: IntakeEnvelope = {
      id,
      from: input.from,
      to: recipients.map((r) => r.address),
      source: input.source,
    };
    // Plugins may put their own stages in the stream (rewrites); a refusal here comes before any byte is read.
    const store = { envelope, rewrite: [] as Transform[] };
    if (plugins?.has("message:store")) {
      try {
        await plugins.run("message:store", store);
      } catch (err) {
        input.body.resume();
        throw err;
      }
    }
    let headers: HeaderInfo | undefined;
    const sizeLimit = new SizeLimit(input.maxSize);
    const processor = new HeaderProcessor({
      prepend: [receivedHeader({ ...input, id, hostname: deps.hostname, recipients, now })],
      defaults: { messageId: `<${id}@${deps.hostname}>`, date: formatRfc5322Date(new Date(now)) },
      maxReceived: MAX_RECEIVED,
      // Routing instructions are for us, never for the recipient.
      remove: [SENDING_ZONE_HEADER],
      maxHeaderBytes: MAX_HEADER_BYTES,
      ...(plugins?.has("message:headers")
        ? {
            edit: async (block: string) => {
              const editor = new HeaderEditor(block);
              await plugins.run("message:headers", { envelope, headers: editor });
              return editor.toString();
            },
          }
        : {}),
      onHeaders: (info) => {
        headers = info;
      },
    });

    let size: number;
    // Last stage: the body hash covers the message exactly as stored (and so as sent).
    // It comes after the CRLF normaliser (a rewrite's output is normalised again), so line ends are CRLF only.
    const hasher = deps.dkimCanonicalizations?.length
      ? new DkimBodyHasher(deps.dkimCanonicalizations, { crlfOnly: true })
      : undefined;
    try {
      // A rewrite may produce bare line endings: normalised once more, so the stored message is clean CRLF.
      const rewrites = store.rewrite.length ? [...store.rewrite, new CrlfNormalizer()] : [];
      const stages = [sizeLimit, new CrlfNormalizer(), processor, ...rewrites, ...(hasher ? [hasher] : [])] as const;
      const [piped, stored] = await Promise.allSettled([
        pipeStreams(detachedSource(input.body), ...stages),
        deps.bodyStore.put(id, stages.at(-1)!),
      ]);
      // The stage that failed first explains best (size limit, loop) — the store only saw the fallout.
      if (piped.status === "rejected") throw piped.reason;
      if (stored.status === "rejected") throw stored.reason;
      size = stored.value.size;
    } catch (err) {
      await deps.bodyStore.delete(id).catch(() => {});
      throw toMailError(err);
    }

    const message: MessageRecord = {
      id,
      bodyId: id,
      from: input.from,
      size: size!,
      receivedAt: now,
      messageIdHeader: headers!.messageId,
      ...(headers!.subject === undefined ? {} : { subject: headers!.subject.slice(0, 500) }),
      source: input.source,
      ...(hasher?.hashes ? { dkimBodyHash: hasher.hashes } : {}),
    };
    if (plugins?.has("message:queue")) {
      const queued = {
        envelope,
        message,
        headers: new HeaderEditor(headers!.headerBlock),
        body: () => deps.bodyStore.get(id),
        addHeaders: [] as [string, string][],
      } as HookContexts["message:queue"];
      try {
        await plugins.run("message:queue", queued);
        if (queued.addHeaders.length) {
          // Validated as header fields now, so a bad one refuses the message instead of failing every delivery.
          const check = new HeaderEditor("");
          for (const [name, value] of queued.addHeaders) check.add(name, value, "bottom");
          message.extraHeaders = check.toString().split("\r\n").filter(Boolean);
        }
      } catch (err) {
        await deps.bodyStore.delete(id).catch(() => {});
        throw toMailError(err);
      }
      if (queued.drop !== undefined) {
        // Accepted and forgotten (e.g. spam with action "drop"): the client hears 250 and nothing is delivered.
        await deps.bodyStore.delete(id).catch(() => {});
        deps.logger.info({ msgId: id, from: input.from, reason: queued.drop }, "message dropped by plugin");
        await plugins.notify("log:entry", { entry: { event: "dropped", msgId: id, reason: queued.drop } });
        return { messageId: id, messageIdHeader: message.messageIdHeader, duplicate: false, deliveries: [] };
      }
    }
    const routing = {
      explicitZone,
      headers: headers!.fields,
      trustRoutingHeader: input.trustRoutingHeader === true,
      from: input.from,
    };
    const zoneOf = (domain: string) => {
      const routed = deps.route ? deps.route(routing, domain) : (explicitZone ?? "default");
      // A caller limited to some zones never leaves them through routing rules: its first zone takes over.
      return input.allowedZones && !input.allowedZones.includes(routed) ? input.allowedZones[0]! : routed;
    };
    const notBefore = Math.max(now, input.notBefore ?? now, deps.holdFutureDated ? futureDate(headers!, now) : now);
    const deliveries: NewDelivery[] = recipients.map((r) => ({
      id: newId(now),
      zone: zoneOf(r.domain),
      recipient: r.address,
      domain: r.domain,
      nextAttemptAt: notBefore,
    }));
    if (plugins?.has("queue:route")) {
      for (const d of deliveries) {
        const ctx = { envelope, recipient: d.recipient, domain: d.domain, zone: d.zone };
        try {
          await plugins.run("queue:route", ctx);
        } catch (err) {
          await deps.bodyStore.delete(id).catch(() => {});
          throw err;
        }
        const allowed = deps.zones.includes(ctx.zone) && (!input.allowedZones || input.allowedZones.includes(ctx.zone));
        if (allowed) d.zone = ctx.zone;
        else deps.logger.warn({ msgId: id, zone: ctx.zone }, "queue:route chose an unknown or forbidden zone; ignored");
      }
    }
    const claim = input.idempotency && {
      ...input.idempotency,
      expiresAt: now + (deps.idempotencyTtl ?? 86_400_000),
    };

    let result: Awaited<ReturnType<Queue["enqueue"]>>;
    try {
      result = await deps.queue.enqueue(message, deliveries, claim);
    } catch (err) {
      await deps.bodyStore.delete(id).catch(() => {});
      throw toMailError(err);
    }
    if (!result.created) {
      await deps.bodyStore.delete(id).catch(() => {});
      return duplicateResult(deps.queue, result.existingMessageId);
    }
    deps.logger.info(
      {
        msgId: id,
        zones: [...new Set(deliveries.map((d) => d.zone))],
        from: input.from,
        rcpts: deliveries.length,
        size: message.size,
        source: input.source.name,
      },
      "message accepted",
    );
    if (plugins) {
      const entry = { event: "accepted", msgId: id, from: input.from, rcpts: deliveries.length, size: message.size };
      await plugins.notify("log:entry", { entry });
    }
    deps.onQueued?.([...new Set(deliveries.map((d) => d.zone))]);
    return {
      messageId: id,
      messageIdHeader: message.messageIdHeader,
      duplicate: false,
      deliveries: deliveries.map((d) => ({ id: d.id, recipient: d.recipient, zone: d.zone })),
    };
  };
}

/** The zone named by the key, request or interface, checked against config and the caller's scope. */
function checkExplicitZone(input: SubmitInput, zones: readonly string[]): string | undefined {
  if (input.zone === undefined) return undefined;
  const zone = input.zone;
  if (!zones.includes(zone)) throw new MailError("invalid-request", `Unknown sending zone "${zone}"`, "zone");
  if (input.allowedZones && !input.allowedZones.includes(zone)) {
    throw new MailError("zone-not-allowed", `Not allowed to send through zone "${zone}"`, "zone");
  }
  return zone;
}

const SKEW_MS = 5 * 60_000;
const MAX_HOLD_MS = 365 * 86_400_000;

/** A Date header further ahead than clock skew explains (and less than a year): the sender wants it sent then. */
function futureDate(headers: HeaderInfo, now: number): number {
  const raw = headerValue(headers.fields, "date");
  const at = raw ? Date.parse(raw) : Number.NaN;
  return Number.isFinite(at) && at - now > SKEW_MS && at - now <= MAX_HOLD_MS ? at : now;
}

function uniqueRecipients(to: string[]) {
  if (to.length === 0) throw new MailError("invalid-request", "At least one recipient is required", "to");
  const seen = new Map<string, { address: string; domain: string }>();
  for (const address of to) {
    const parsed = parseAddress(address);
    if (!parsed) throw new MailError("invalid-address", `Invalid recipient address ${JSON.stringify(address)}`, "to");
    const key = `${parsed.local}@${parsed.domain}`;
    if (!seen.has(key.toLowerCase())) seen.set(key.toLowerCase(), { address: key, domain: parsed.domain });
  }
  return [...seen.values()];
}

/**
 * The client's stream behind a PassThrough: a failure downstream stops our pipeline without destroying the
 * client's stream, which is drained instead, so SMTP intake can still read to the end of DATA and reply.
 */
function detachedSource(body: Readable): PassThrough {
  const entry = new PassThrough();
  body.on("error", (err) => entry.destroy(err));
  entry.on("error", () => {
    body.unpipe(entry);
    body.resume();
  });
  entry.on("close", () => {
    if (!entry.writableFinished) {
      body.unpipe(entry);
      body.resume();
    }
  });
  body.pipe(entry);
  return entry;
}

async function duplicateResult(queue: Queue, messageId: string): Promise<SubmitResult> {
  const status = await queue.getMessage(messageId);
  if (!status) throw new MailError("internal", "Idempotent message vanished");
  return {
    messageId,
    messageIdHeader: status.message.messageIdHeader,
    duplicate: true,
    deliveries: status.deliveries.map((d) => ({ id: d.id, recipient: d.recipient, zone: d.zone })),
  };
}
