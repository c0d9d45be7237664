// The SQS queue's status store on S3: what SQS cannot list or look up (message status, history, cancel, GC index).
//
// Layout under the prefix (default "status/"); every object has one writer at a time, so hosts updating different
// deliveries never overwrite each other:
//   messages/<messageId>.json            the message and its delivery list; written last by enqueue (commit point)
//   deliveries/<deliveryId>.json         state, attempts, history, carrier token, lease owner/generation
//   cancelled/<messageId>.json           cancel marker (a delivery's own record is never rewritten by cancel)
//   done/<messageId>/<deliveryId>        one per delivery that became final (counted to find finished messages)
//   finished/<messageId>/<bodyId>        every delivery final, body not yet released (GC index)
//   bodies/<bodyId>/<messageId>          body reference, until markBodyRemoved (hasBody)
//   idempotency/<sha256(scope, key)>.json  first message of an idempotency key, with its expiry
import { createHash } from "node:crypto";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { Attempt, Delivery, MessageRecord } from "../../domain/envelope.ts";
import { isNotFound, isPreconditionFailed } from "../aws/errors.ts";

/** Written once by enqueue; its existence means the message is committed. */
export interface MessageObject {
  message: MessageRecord;
  deliveries: Pick<Delivery, "id" | "zone" | "recipient" | "domain">[];
}

/** The durable state of one delivery. */
export interface DeliveryRecord extends Delivery {
  history: Attempt[];
  /** Token of the one SQS message that currently carries this delivery; any other carrier is stale. */
  carrier: string;
  /** Who leased it last; bumped by every lease, so a completion from an earlier lease is refused. */
  lease?: { owner: string; generation: number };
}

export interface CancelMarker {
  at: number;
  cancelled: number;
}

export interface IdempotencyObject {
  scope: string;
  key: string;
  messageId: string;
  expiresAt: number;
  createdAt: number;
}

export interface Stored<T> {
  value: T;
  etag: string | undefined;
}

/** A conditional write lost: the object changed (If-Match) or already existed (If-None-Match). */
export class ConditionFailed extends Error {
  constructor(key: string) {
    super(`conditional write to ${key} lost to another writer`);
    this.name = "ConditionFailed";
  }
}

export type WriteCondition = { ifMatch: string | undefined } | { ifNoneMatch: "*" };

const enc = encodeURIComponent;

/** Committed message objects never change, so each process reads one once (bounded, oldest evicted first). */
const MESSAGE_CACHE = 2_000;

export class StatusStore {
  private readonly messages = new Map<string, MessageObject>();

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    /** Send If-Match / If-None-Match. S3 and moto honour them; s3rver ignores them (see docs/backends.md). */
    private readonly conditionalWrites: boolean,
  ) {}

  readonly keys = {
    message: (id: string) => `${this.prefix}messages/${enc(id)}.json`,
    delivery: (id: string) => `${this.prefix}deliveries/${enc(id)}.json`,
    cancelled: (messageId: string) => `${this.prefix}cancelled/${enc(messageId)}.json`,
    doneDir: (messageId: string) => `${this.prefix}done/${enc(messageId)}/`,
    done: (messageId: string, deliveryId: string) => `${this.prefix}done/${enc(messageId)}/${enc(deliveryId)}`,
    finishedDir: () => `${this.prefix}finished/`,
    finished: (messageId: string, bodyId: string) => `${this.prefix}finished/${enc(messageId)}/${enc(bodyId)}`,
    bodyDir: (bodyId: string) => `${this.prefix}bodies/${enc(bodyId)}/`,
    body: (bodyId: string, messageId: string) => `${this.prefix}bodies/${enc(bodyId)}/${enc(messageId)}`,
    idempotency: (scope: string, key: string) =>
      `${this.prefix}idempotency/${createHash("sha256").update(`${scope}\0${key}`).digest("hex")}.json`,
  };

  /** The committed message object, or undefined before the commit (or after a failed enqueue). */
  async messageObject(id: string): Promise<MessageObject | undefined> {
    const cached = this.messages.get(id);
    if (cached) return cached;
    const stored = await this.read<MessageObject>(this.keys.message(id));
    if (stored) this.remember(stored.value);
    return stored?.value;
  }

  remember(object: MessageObject): void {
    this.messages.set(object.message.id, object);
    if (this.messages.size > MESSAGE_CACHE) this.messages.delete(this.messages.keys().next().value!);
  }

  /**
   * Writes the finished marker once every delivery of the message is final or the message is cancelled. Each
   * completer writes its own done marker before it counts, so of two racing last completers at least one sees both.
   */
  async finishIfDone(messageId: string, now: number): Promise<void> {
    const object = await this.messageObject(messageId);
    if (!object) return;
    const { bodyId } = object.message;
    const [done, cancelled, holdsBody] = await Promise.all([
      this.list(this.keys.doneDir(messageId)),
      this.exists(this.keys.cancelled(messageId)),
      this.exists(this.keys.body(bodyId, messageId)),
    ]);
    // Once the body is released (markBodyRemoved), a late repair must not list the message as finished again.
    if (holdsBody && (cancelled || done.length >= object.deliveries.length)) {
      await this.write(this.keys.finished(messageId, bodyId), { at: now });
    }
  }

  async read<T>(key: string): Promise<Stored<T> | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const text = await out.Body!.transformToString();
      return { value: JSON.parse(text) as T, etag: out.ETag };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Writes JSON; with a condition, throws ConditionFailed when another writer got there first. */
  async write(key: string, value: unknown, condition?: WriteCondition): Promise<void> {
    const conditional =
      this.conditionalWrites && condition
        ? "ifNoneMatch" in condition
          ? { IfNoneMatch: "*" }
          : condition.ifMatch
            ? { IfMatch: condition.ifMatch }
            : {}
        : {};
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify(value),
          ContentType: "application/json",
          ...conditional,
        }),
      );
    } catch (err) {
      if (isPreconditionFailed(err)) throw new ConditionFailed(key);
      throw err;
    }
  }

  /** Idempotent: deleting a missing key succeeds. */
  async remove(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /** Keys under a prefix, relative to it, up to `limit`. */
  async list(dir: string, limit = Number.POSITIVE_INFINITY): Promise<string[]> {
    const found: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: dir,
          ContinuationToken,
          MaxKeys: Math.min(1000, limit - found.length),
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key && found.length < limit) found.push(object.Key.slice(dir.length));
      }
      ContinuationToken = page.IsTruncated && found.length < limit ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return found;
  }
}

export const decodeKeyPart = decodeURIComponent;
