// The header block nodemailer's MailComposer writes for a text-only message, built directly when every field is
// plain ASCII that nodemailer would write as it is (no encoded word, no quoting, no folding): compile() and
// buildHeaders() cost ~0.1 ms of the event loop per message, about a fifth of what a JSON submission costs
// beyond an SMTP one (issue 9). Anything else answers undefined and takes nodemailer's path; compose.test.ts
// compares both ways byte for byte on random requests, so a nodemailer upgrade that writes differently fails it.

export interface SimpleHeaderFields {
  from: NamedAddress;
  to: readonly NamedAddress[];
  cc: readonly NamedAddress[];
  replyTo: readonly NamedAddress[];
  subject: string | undefined;
  /** Custom headers: any makes the block nodemailer's (it puts them first, normalises and may replace them). */
  customHeaderCount: number;
  /** With its angle brackets. */
  messageId: string;
  date: Date;
}

interface NamedAddress {
  name: string;
  address: string;
}

// A dot-atom local part (nodemailer quotes anything else) at a lower-case ASCII domain whose labels have no "--"
// (domainToASCII lower-cases, and checks "xn--" labels as punycode).
const ADDRESS = /^[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)+$/;
// Word characters and single inner spaces: _encodeAddressName leaves /^[\w ]*$/ as it is.
const NAME = /^(?:\w+(?: \w+)*)?$/;
// Printable ASCII without the quote (which encodeWords encodes) and words separated by single spaces, no "=?"
// (which could read as an encoded word).
const SUBJECT = /^[\x21\x23-\x7e]+(?: [\x21\x23-\x7e]+)*$/;
// nodemailer takes out controls and adds missing brackets.
const MESSAGE_ID = /^<[\x21-\x7e]+>$/;
// foldLines leaves a line shorter than this as it is.
const FOLD_AT = 76;

/** nodemailer's header block for these fields, or undefined when it would encode, quote or fold any of them. */
export function simpleHeaderBlock(fields: SimpleHeaderFields): string | undefined {
  if (fields.customHeaderCount > 0 || !MESSAGE_ID.test(fields.messageId)) return undefined;
  const lines: string[] = [];
  const addresses = (key: string, list: readonly NamedAddress[]): boolean => {
    if (list.length === 0) return true;
    const parts: string[] = [];
    for (const { name, address } of list) {
      if (!ADDRESS.test(address) || !NAME.test(name)) return false;
      parts.push(name ? `${name} <${address}>` : address);
    }
    lines.push(`${key}: ${parts.join(", ")}`);
    return true;
  };
  if (!addresses("From", [fields.from]) || !addresses("To", fields.to) || !addresses("Cc", fields.cc)) return undefined;
  if (!addresses("Reply-To", fields.replyTo)) return undefined;
  if (fields.subject) {
    if (!SUBJECT.test(fields.subject) || fields.subject.includes("=?")) return undefined;
    lines.push(`Subject: ${fields.subject}`);
  }
  lines.push(
    `Message-ID: ${fields.messageId}`,
    `Date: ${fields.date.toUTCString().replace(/GMT/, "+0000")}`,
    "Content-Transfer-Encoding: 7bit",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
  );
  if (lines.some((line) => line.length >= FOLD_AT)) return undefined;
  return lines.join("\r\n");
}
