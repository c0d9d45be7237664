// The domain records every adapter and role shares: a message, its per-recipient deliveries and their attempts.

/** Where a message came from; kept for Received headers, logs and the audit trail. */
export interface MessageSource {
  interface: "smtp" | "api" | "internal";
  /** Name of the SMTP interface or "api". */
  name: string;
  remoteAddress?: string;
  /** Authenticated SMTP user or API key id. */
  user?: string;
}

/** One accepted message: the envelope sender and a stored body shared by all its deliveries. */
export interface MessageRecord {
  id: string;
  bodyId: string;
  /** Envelope sender (MAIL FROM); "" is the null sender <>. */
  from: string;
  size: number;
  receivedAt: number;
  /** The Message-ID header (added at intake when missing). */
  messageIdHeader: string;
  subject?: string;
  source: MessageSource;
  /**
   * DKIM body hashes (base64 sha256 of the canonicalised body, RFC 6376 §3.7) by body canonicalisation, computed
   * while the body streamed into the store; the sender signs from these without reading the body twice.
   */
  dkimBodyHash?: { relaxed?: string; simple?: string };
  /** Header fields ("Name: value") plugins added after the message was stored; put on top when it is sent. */
  extraHeaders?: string[];
}

export type DeliveryState = "queued" | "deferred" | "delivered" | "bounced" | "cancelled";
export const FINAL_STATES: readonly DeliveryState[] = ["delivered", "bounced", "cancelled"];

/** One recipient of one message in one sending zone: the unit that is leased, retried and completed. */
export interface Delivery {
  id: string;
  messageId: string;
  zone: string;
  recipient: string;
  /** Lower-cased recipient domain (IDN in Unicode form as written; converted to A-labels at lookup). */
  domain: string;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number;
  lastResponse?: string;
  updatedAt: number;
}

export type NewDelivery = Pick<Delivery, "id" | "zone" | "recipient" | "domain"> & { nextAttemptAt?: number };

/** A new delivery of a message as a queue first stores it: queued, no attempt yet, due at once unless dated. */
export function queuedDelivery(messageId: string, d: NewDelivery, now: number): Delivery {
  return {
    id: d.id,
    messageId,
    zone: d.zone,
    recipient: d.recipient,
    domain: d.domain,
    state: "queued",
    attempts: 0,
    nextAttemptAt: d.nextAttemptAt ?? now,
    updatedAt: now,
  };
}

/** A leased delivery carries its message so the sender needs no second read. */
export interface LeasedDelivery extends Delivery {
  message: MessageRecord;
  leaseOwner: string;
  leaseExpiresAt: number;
}

/** What happened on one attempt, as recorded in the delivery's history. */
export interface Attempt {
  deliveryId: string;
  at: number;
  durationMs: number;
  outcome: "delivered" | "deferred" | "bounced";
  response: string;
  /** Bounce/deferral category from the classification table. */
  category?: string;
  localAddress?: string;
  mx?: string;
  tls?: boolean;
  /** The TLS policy decided before connecting: opportunistic, require-tls, mta-sts, mta-sts-testing, dane. */
  tlsPolicy?: string;
  /** Negotiated protocol and cipher suite of the TLS session, e.g. "TLSv1.3", "TLS_AES_256_GCM_SHA384". */
  tlsVersion?: string;
  tlsCipher?: string;
}

export interface MessageStatus {
  message: MessageRecord;
  deliveries: (Delivery & { history: Attempt[] })[];
}
