// A failed delivery attempt, carrying what the classifier needs: the remote reply or the local error code.
export type Stage = "dns" | "connect" | "greeting" | "ehlo" | "starttls" | "mail" | "rcpt" | "data" | "network";

export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly details: {
      /** The remote SMTP reply code, when the server answered. */
      code?: number;
      /** Node/nodemailer error code (ECONNREFUSED, ETIMEDOUT, ETLS, ENOTFOUND, ...). */
      errorCode?: string;
      stage?: Stage;
      /** Set when we know better than the reply code (null MX, unknown domain). */
      permanent?: boolean;
      mx?: string;
      /** An outbound TLS policy failure, as a TLS-RPT result type (relay/tls-policy). */
      tlsResult?: string;
    } = {},
  ) {
    super(message);
    this.name = "DeliveryError";
  }
}
