// Composes delivery status notifications: RFC 3464 reports in an RFC 6522 multipart/report, built with nodemailer's
// MIME builder. Every value that comes from outside (replies, addresses, ids) is flattened to one line first.
import MimeNode from "nodemailer/lib/mime-node";

export interface DsnRecipient {
  recipient: string;
  /** Enhanced status code, e.g. "5.1.1"; its class is made to agree with the action. */
  status: string;
  /** Host name of the server that answered. */
  remoteMta?: string;
  /** The remote reply ("550 5.1.1 ...") or the local error. */
  diagnostic?: string;
  lastAttemptDate?: Date;
  /** Only reported for "delayed". */
  willRetryUntil?: Date;
}

export interface DsnInput {
  reportingMta: string;
  /** "MAILER-DAEMON@host", or a full "Name <address>". */
  from: string;
  to: string;
  originalEnvelopeFrom: string;
  originalMessageId?: string;
  /** The original message's raw header block (CRLF). */
  originalHeaders: string;
  arrivalDate: Date;
  action: "failed" | "delayed" | "delivered";
  recipients: DsnRecipient[];
  /** "<id@host>" */
  messageId: string;
  /** When the report is made; now unless given (tests pass a fixed date). */
  date?: Date;
}

const SUBJECTS: Record<DsnInput["action"], string> = {
  failed: "Undelivered Mail Returned to Sender",
  delayed: "Delivery Status Notification (Delay)",
  delivered: "Delivery Status Notification (Success)",
};

const STATUS_CLASS: Record<DsnInput["action"], string> = { failed: "5", delayed: "4", delivered: "2" };
const NON_ASCII = /[^\p{ASCII}]/u;
// RFC 5322 §2.1.1: no line may exceed 998 characters; we fold machine-readable fields near 78.
const MAX_LINE = 998;
const FOLD_AT = 78;
const MAX_DIAGNOSTIC = 900;

export async function composeDsn(input: DsnInput): Promise<Buffer> {
  const root = new MimeNode("multipart/report; report-type=delivery-status", {
    newline: "win",
    hostname: oneLine(input.reportingMta),
  });
  root.setHeader("From", fromHeader(input.from));
  root.setHeader("To", addressHeader(input.to));
  root.setHeader("Subject", SUBJECTS[input.action]);
  root.setHeader("Date", input.date ?? new Date());
  root.setHeader("Message-ID", angle(input.messageId));
  // RFC 3834 §5: marks the report as machine-generated so that responders do not answer it.
  root.setHeader("Auto-Submitted", "auto-replied");
  if (input.originalMessageId && oneLine(input.originalMessageId)) {
    const original = angle(input.originalMessageId);
    root.setHeader("In-Reply-To", original);
    root.setHeader("References", original);
  }

  root
    .createChild("text/plain; charset=utf-8")
    .setHeader("Content-Description", "Notification")
    .setContent(humanReadable(input));
  // RFC 3464 §2.1: 7-bit fields only (non-ASCII addresses use RFC 6533's xtext form), so it passes unencoded.
  root
    .createChild("message/delivery-status")
    .setHeader("Content-Description", "Delivery report")
    .setContent(deliveryStatus(input));
  // Set raw: the builder would quoted-printable encode any header line over 76 characters, and readers of bounces
  // expect the original header lines as they were.
  root.createChild("text/rfc822-headers").setRaw(originalHeadersPart(input.originalHeaders));
  return root.build();
}

/** The machine-readable report (RFC 3464 §2.2 per-message fields, §2.3 per-recipient fields). */
function deliveryStatus(input: DsnInput): string {
  const groups: string[][] = [
    [
      `Reporting-MTA: dns; ${oneLine(input.reportingMta)}`,
      ...(input.originalEnvelopeFrom ? [`X-ZoneRelay-Sender: ${addressField(input.originalEnvelopeFrom)}`] : []),
      `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`,
    ],
  ];
  for (const r of input.recipients) {
    const fields = [
      `Final-Recipient: ${addressField(r.recipient)}`,
      `Action: ${input.action}`,
      `Status: ${statusFor(input.action, r.status)}`,
    ];
    if (r.remoteMta && oneLine(r.remoteMta)) fields.push(`Remote-MTA: dns; ${ascii(oneLine(r.remoteMta))}`);
    if (r.diagnostic && oneLine(r.diagnostic)) fields.push(`Diagnostic-Code: ${diagnosticCode(r.diagnostic)}`);
    if (r.lastAttemptDate) fields.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptDate)}`);
    if (input.action === "delayed" && r.willRetryUntil) {
      fields.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
    }
    groups.push(fields);
  }
  return `${groups.map((g) => g.map(fold).join("\r\n")).join("\r\n\r\n")}\r\n`;
}

function humanReadable(input: DsnInput): string {
  const host = oneLine(input.reportingMta);
  const lines = [`This is the mail delivery system at ${host}.`, ""];
  if (input.action === "failed") {
    lines.push(
      "Your message could not be delivered to the recipients listed below.",
      "The failure is permanent, so it will not be retried. The reply of the",
      "receiving server is shown for each recipient, and the headers of your",
      "message are attached.",
    );
  } else if (input.action === "delayed") {
    lines.push(
      "Your message has not been delivered yet to the recipients listed below.",
      "Delivery is still being retried; you do not need to send it again.",
      "You will hear from us again if it cannot be delivered in the end.",
    );
  } else {
    lines.push("Your message was delivered to the recipients listed below.");
  }
  if (input.originalEnvelopeFrom) lines.push("", `Sender: <${oneLine(input.originalEnvelopeFrom)}>`);
  for (const r of input.recipients) {
    lines.push("", `<${oneLine(r.recipient)}>: ${input.action} (${statusFor(input.action, r.status)})`);
    if (r.remoteMta) lines.push(`    Server: ${oneLine(r.remoteMta)}`);
    if (r.diagnostic) {
      // The body may keep the reply's own lines; each is indented so none can look like a new entry.
      const replyLines = r.diagnostic
        .split(/\r\n|\r|\n/)
        .map(stripControls)
        .filter((l) => l.trim());
      for (const [i, l] of replyLines.entries()) lines.push(`    ${i === 0 ? "Reply: " : "       "}${l.trim()}`);
    }
    if (r.lastAttemptDate) lines.push(`    Last attempt: ${rfc5322Date(r.lastAttemptDate)}`);
    if (input.action === "delayed" && r.willRetryUntil) {
      lines.push(`    Retrying until: ${rfc5322Date(r.willRetryUntil)}`);
    }
  }
  return `${lines.join("\r\n")}\r\n`;
}

function originalHeadersPart(raw: string): string {
  let headers = raw.replace(/\r\n|\r|\n/g, "\r\n");
  const end = headers.indexOf("\r\n\r\n");
  if (end !== -1) headers = headers.slice(0, end + 2); // the header block only, never the body
  const lines = headers.split("\r\n").filter((l, i, all) => l !== "" || i < all.length - 1);
  const body = lines.map((l) => (l.length > MAX_LINE ? l.slice(0, MAX_LINE) : l)).join("\r\n");
  // RFC 6533 §6.3: header fields with raw UTF-8 (RFC 6532) travel as message/global-headers.
  const type = NON_ASCII.test(body)
    ? "Content-Type: message/global-headers\r\nContent-Transfer-Encoding: 8bit"
    : "Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 7bit";
  return `${type}\r\nContent-Description: Undelivered Message Headers\r\n\r\n${body}${body ? "\r\n" : ""}`;
}

/** RFC 3464 §2.3.4: the class follows the action (failed → 5, delayed → 4, delivered → 2). */
function statusFor(action: DsnInput["action"], status: string): string {
  const cls = STATUS_CLASS[action];
  const m = /^[245]\.(\d{1,3})\.(\d{1,3})$/.exec(status.trim());
  return m ? `${cls}.${m[1]}.${m[2]}` : `${cls}.0.0`;
}

/** "smtp; <reply>" for a server's reply, an extension type for our own errors (RFC 3464 §2.3.6). */
function diagnosticCode(diagnostic: string): string {
  let text = ascii(oneLine(diagnostic));
  if (text.length > MAX_DIAGNOSTIC) text = `${text.slice(0, MAX_DIAGNOSTIC)}...`;
  return /^[245]\d\d(?:[ -]|$)/.test(text) ? `smtp; ${text}` : `X-ZoneRelay; ${text}`;
}

/** RFC 3464 §2.3.2 with RFC 6533 §3: rfc822 for ASCII addresses, utf-8 in its 7-bit xtext form otherwise. */
function addressField(address: string): string {
  const a = oneLine(address).replace(/\s/g, "");
  if (!NON_ASCII.test(a)) return `rfc822; ${a}`;
  let xtext = "";
  for (const ch of a) {
    const cp = ch.codePointAt(0) ?? 0;
    // QCHAR: printable ASCII except "\", "+" and "="; anything else as \x{HEX}.
    xtext +=
      cp > 0x20 && cp < 0x7f && ch !== "\\" && ch !== "+" && ch !== "=" ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
  }
  return `utf-8; ${xtext}`;
}

function fromHeader(from: string) {
  const value = oneLine(from);
  return value.includes("<") ? value : addressHeader(value, "Mail Delivery System");
}

/** The builder writes a non-ASCII address as raw UTF-8 (RFC 6532), never as an encoded word. */
function addressHeader(address: string, name?: string) {
  const a = oneLine(address);
  return name ? { name, address: a } : a;
}

function angle(id: string): string {
  const v = oneLine(id).replace(/[<>\s]/g, "");
  return `<${v}>`;
}

/** Header injection guard: CR and LF (and other controls) become spaces, runs of spaces collapse. */
function oneLine(value: string): string {
  return value
    .replace(/\p{Cc}+/gu, " ")
    .replace(/ {2,}/g, " ")
    .trim();
}

function stripControls(value: string): string {
  return value.replace(/\p{Cc}/gu, " ");
}

function ascii(value: string): string {
  return value.replace(/[^\x20-\x7e]/gu, "?");
}

/** Folds a field at spaces (RFC 5322 §2.2.3); unfolding gives back the exact line. */
function fold(field: string): string {
  if (field.length <= FOLD_AT) return field;
  const words = field.split(" ");
  const lines: string[] = [];
  let current = words[0] ?? "";
  for (const word of words.slice(1)) {
    if (current.length + 1 + word.length > FOLD_AT && current.trim()) {
      lines.push(current);
      current = ` ${word}`;
    } else {
      current += ` ${word}`;
    }
  }
  lines.push(current);
  return lines.join("\r\n");
}

/** RFC 5322 §3.3 date-time in UTC, e.g. "Tue, 14 Jan 2025 10:00:00 +0000". */
function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, "+0000");
}
