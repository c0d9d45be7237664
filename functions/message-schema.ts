// The JSON body of POST /v1/messages: its shape (zod) and the mapping of the first problem to a MailError.
import { z } from "zod";
import { MailError } from "../shared/errors.ts";

// Guards, not policy: one request must not fan out into an unbounded number of deliveries or MIME parts.
const MAX_RECIPIENTS_PER_FIELD = 1000;
const MAX_ATTACHMENTS = 100;

/** "a@x.test", "Name <a@x.test>" or { name, address }. */
const mailbox = z.union([z.string(), z.object({ name: z.string().optional(), address: z.string() }).strict()]);
const mailboxes = z.union([mailbox, z.array(mailbox).max(MAX_RECIPIENTS_PER_FIELD)]);

/** Strict base64 (RFC 4648 §4), line breaks allowed: Buffer.from(_, "base64") would silently skip garbage. */
export function isBase64(value: string): boolean {
  const compact = value.replace(/[\r\n\t ]+/g, "");
  return compact.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(compact);
}

const attachment = z
  .object({
    filename: z.string().min(1).max(255).optional(),
    content: z.string().refine(isBase64, "is not valid base64"),
    contentType: z.string().optional(),
    cid: z.string().min(1).max(255).optional(),
  })
  .strict();

export const messageRequestSchema = z
  .object({
    from: mailbox,
    to: mailboxes.optional(),
    cc: mailboxes.optional(),
    bcc: mailboxes.optional(),
    replyTo: mailboxes.optional(),
    subject: z.string().optional(),
    text: z.string().optional(),
    html: z.string().optional(),
    attachments: z.array(attachment).max(MAX_ATTACHMENTS).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    zone: z.string().min(1).optional(),
    sendAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .refine((m) => m.to !== undefined || m.cc !== undefined || m.bcc !== undefined, {
    message: "at least one of to, cc or bcc is required",
    path: ["to"],
  });

export type MessageRequest = z.infer<typeof messageRequestSchema>;
export type Mailbox = z.infer<typeof mailbox>;
export type Mailboxes = z.infer<typeof mailboxes>;

/** Validates the parsed JSON; the first problem becomes a 400 naming its field (e.g. `attachments[0].content`). */
export function parseMessageRequest(json: unknown): MessageRequest {
  const result = messageRequestSchema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0]!] : issue.path;
  const field = fieldName(path);
  const detail = issue.code === "unrecognized_keys" ? "unknown field" : issue.message;
  throw new MailError("invalid-request", field ? `${field}: ${detail}` : detail, field || undefined);
}

/** ["attachments", 0, "content"] → "attachments[0].content". */
export function fieldName(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}
