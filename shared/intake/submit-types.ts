// What intake (SMTP or HTTP) hands to the submit pipeline, and what it gets back once the message is durable.
import type { Readable } from "node:stream";
import type { MessageSource } from "../domain/envelope.ts";

export interface SubmitInput {
  /** Envelope sender; "" for the null sender. */
  from: string;
  /** Envelope recipients (already validated as addresses). */
  to: string[];
  /** The raw RFC 5322 message (headers + body), streamed; line endings are normalised to CRLF on the way. */
  body: Readable;
  source: MessageSource;
  /** Zone chosen by the API key, the request or the SMTP interface; else routing decides. */
  zone?: string;
  /** An `X-Sending-Zone` header from this client may choose the zone (trusted SMTP interface). */
  trustRoutingHeader?: boolean;
  /** Zones the caller may use (API key / user scope); undefined = all. */
  allowedZones?: readonly string[];
  /** Earliest delivery time (API `sendAt`). */
  notBefore?: number;
  /** Largest message accepted, counted while streaming. */
  maxSize: number;
  idempotency?: { scope: string; key: string };
  /** What the Received header says about the hop: EHLO name, protocol (ESMTP, ESMTPSA, HTTP), TLS cipher. */
  received?: { helo?: string; protocol: string; tls?: string };
}

export interface SubmitResult {
  messageId: string;
  /** The Message-ID header of the stored message. */
  messageIdHeader: string;
  /** True when an Idempotency-Key matched an earlier submission: nothing new was queued. */
  duplicate: boolean;
  deliveries: { id: string; recipient: string; zone: string }[];
}

export type Submit = (input: SubmitInput) => Promise<SubmitResult>;
