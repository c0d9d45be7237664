// The SQS side of the sqs queue: one queue (+ dead-letter queue) per zone, and the carrier messages sent to them.
import { createHash, randomBytes } from "node:crypto";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Delivery, MessageRecord } from "../../domain/envelope.ts";
import { isMissingQueue } from "../aws/errors.ts";

/** SQS limits: DelaySeconds ≤ 15 min; a message's visibility ≤ 12 h from its receipt; batches of ≤ 10. */
export const MAX_DELAY_S = 900;
export const MAX_VISIBILITY_S = 43_200;
export const MAX_BATCH = 10;
/** Retention is the longest SQS allows (14 days); carriers older than a week are replaced by fresh ones. */
const RETENTION_S = 1_209_600;
/**
 * Every deferral check (a receive of a message whose not-before lies ahead) counts as a receive, so the redrive
 * threshold is high: only a message that keeps failing to be read at all ends in the dead-letter queue.
 */
const MAX_RECEIVE_COUNT = 1000;

/**
 * The JSON body of an SQS message: one delivery with its message (envelope and body reference, never the body,
 * so it stays far below SQS's 256 KB limit). `carrier` names this message; the delivery record names the one live
 * carrier, so a duplicate or superseded one is recognised and dropped. `prev` is the carrier it replaces.
 */
export interface CarrierBody {
  v: 1;
  carrier: string;
  prev?: string;
  delivery: Pick<Delivery, "id" | "messageId" | "zone" | "recipient" | "domain">;
  message: MessageRecord;
}

/** The subject is capped in carriers (the full record is in the status store), so any message fits SQS. */
const CARRIER_SUBJECT_MAX = 998;

export function carrierMessage(message: MessageRecord): MessageRecord {
  const { subject } = message;
  return subject && subject.length > CARRIER_SUBJECT_MAX
    ? { ...message, subject: subject.slice(0, CARRIER_SUBJECT_MAX) }
    : message;
}

export const newCarrierToken = () => randomBytes(12).toString("base64url");

export function parseCarrier(message: Message): CarrierBody | undefined {
  try {
    const body = JSON.parse(message.Body ?? "") as CarrierBody;
    return body?.v === 1 && typeof body.carrier === "string" && body.delivery?.id ? body : undefined;
  } catch {
    return undefined;
  }
}

/** When the message may be handed out (ms since the epoch), from the `notBefore` attribute; 0 when due at once. */
export const notBeforeOf = (message: Message) => Number(message.MessageAttributes?.notBefore?.StringValue ?? 0) || 0;

/** When SQS accepted the message (for orphan detection), or now when the attribute is missing. */
export const sentAtOf = (message: Message, now: number) => Number(message.Attributes?.SentTimestamp ?? now) || now;

/**
 * `<prefix>-<zone>`; SQS names allow [A-Za-z0-9_-] and 80 characters (76 leaves room for "-dlq"). A zone name
 * outside that alphabet or too long is shortened and made unique with a hash of the original.
 */
export function queueNameFor(prefix: string, zone: string): string {
  const plain = `${prefix}-${zone}`;
  if (/^[A-Za-z0-9_-]+$/.test(plain) && plain.length <= 76) return plain;
  const hash = createHash("sha256").update(zone).digest("hex").slice(0, 10);
  const readable = `${prefix}-${zone.replace(/[^A-Za-z0-9_-]/g, "_")}`.slice(0, 65);
  return `${readable}-${hash}`;
}

export class ZoneQueues {
  private readonly urls = new Map<string, Promise<string>>();

  constructor(
    private readonly sqs: SQSClient,
    private readonly prefix: string,
    /** SQS's limit; lower only in tests, to exercise not-before chaining without waiting 15 minutes. */
    private readonly maxDelaySeconds = MAX_DELAY_S,
  ) {}

  /** The queue URL of a zone, creating the queue and its dead-letter queue on first use (CreateQueue is idempotent). */
  urlOf(zone: string): Promise<string> {
    let url = this.urls.get(zone);
    if (!url) {
      url = this.create(queueNameFor(this.prefix, zone));
      this.urls.set(zone, url);
      url.catch(() => this.urls.delete(zone)); // retry creation next time
    }
    return url;
  }

  /** Forgets a zone's cached URL when SQS says its queue is gone, so the next use creates it again. */
  forgetIfGone(zone: string, err: unknown): void {
    if (isMissingQueue(err)) this.urls.delete(zone);
  }

  private async create(name: string): Promise<string> {
    const dlqUrl = await this.createOrGet(`${name}-dlq`, { MessageRetentionPeriod: String(RETENTION_S) });
    const arn = await this.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }));
    const deadLetterTargetArn = arn.Attributes?.QueueArn;
    if (!deadLetterTargetArn) throw new Error(`SQS did not tell the ARN of ${name}-dlq`);
    return this.createOrGet(name, {
      MessageRetentionPeriod: String(RETENTION_S),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn, maxReceiveCount: MAX_RECEIVE_COUNT }),
    });
  }

  /** A queue made elsewhere (infra) with other attributes is used as it is. */
  private async createOrGet(QueueName: string, Attributes: Record<string, string>): Promise<string> {
    try {
      const out = await this.sqs.send(new CreateQueueCommand({ QueueName, Attributes }));
      return out.QueueUrl!;
    } catch (err) {
      if (!/QueueAlreadyExists|QueueNameExists/.test((err as Error).name)) throw err;
      const out = await this.sqs.send(new GetQueueUrlCommand({ QueueName }));
      return out.QueueUrl!;
    }
  }

  /**
   * Sends carriers, each hidden until its `notBefore`: DelaySeconds covers up to 15 minutes, the `notBefore`
   * attribute the rest (the receiver hides it again until then). Rejects unless every message was accepted.
   */
  async send(entries: { body: CarrierBody; notBefore: number }[], now: number): Promise<void> {
    const byZone = new Map<string, typeof entries>();
    for (const entry of entries) {
      const list = byZone.get(entry.body.delivery.zone) ?? [];
      list.push(entry);
      byZone.set(entry.body.delivery.zone, list);
    }
    const batches: Promise<void>[] = [];
    for (const [zone, list] of byZone) {
      const url = await this.urlOf(zone);
      for (let i = 0; i < list.length; i += MAX_BATCH) {
        const batch = this.sendBatch(url, list.slice(i, i + MAX_BATCH), now);
        batches.push(
          batch.catch((err) => {
            this.forgetIfGone(zone, err);
            throw err;
          }),
        );
      }
    }
    await Promise.all(batches);
  }

  private async sendBatch(QueueUrl: string, list: { body: CarrierBody; notBefore: number }[], now: number) {
    const out = await this.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: list.map(({ body, notBefore }, i) => ({
          Id: String(i),
          MessageBody: JSON.stringify(body),
          DelaySeconds: Math.min(this.maxDelaySeconds, Math.max(0, Math.ceil((notBefore - now) / 1000))),
          ...(notBefore > now
            ? { MessageAttributes: { notBefore: { DataType: "Number", StringValue: String(notBefore) } } }
            : {}),
        })),
      }),
    );
    if (out.Failed?.length) {
      const first = out.Failed[0]!;
      throw Object.assign(new Error(`SQS refused ${out.Failed.length} message(s): ${first.Code} ${first.Message}`), {
        name: first.SenderFault ? "SqsSendRefused" : "ServiceUnavailable",
      });
    }
  }
}
