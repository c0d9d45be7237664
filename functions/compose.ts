// Turns a validated JSON message into its envelope and a streamed RFC 5322 message (nodemailer's MailComposer).
import { Readable } from "node:stream";
import addressparser from "nodemailer/lib/addressparser";
import MailComposer from "nodemailer/lib/mail-composer";
import { parseAddress } from "../shared/domain/address.ts";
import { newId } from "../shared/domain/ids.ts";
import { MailError } from "../shared/errors.ts";
import type { Mailboxes, MessageRequest } from "./message-schema.ts";
import { simpleHeaderBlock } from "./simple-header-block.ts";

export interface ComposedMessage {
  /** Envelope sender: the From address. */
  from: string;
  /** Envelope recipients: to + cc + bcc, in that order. */
  to: string[];
  /** The message, produced while it is read (attachments are encoded chunk by chunk). */
  body: Readable;
}

interface NamedAddress {
  name: string;
  address: string;
}

// RFC 5322 §3.6.8: a field name is printable US-ASCII except the colon.
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]{1,76}$/;
/** Headers the composer owns: overriding them would break the MIME structure, leak Bcc or forge our trace. */
const RESERVED_HEADERS = new Set(["bcc", "content-type", "content-transfer-encoding", "mime-version", "received"]);
const MEDIA_TYPE = /^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/;
// nodemailer's limits for sending text as it is: longer texts are not even checked, longer lines are encoded.
const MAX_PLAIN_TEXT = 128 * 1024;
const MAX_PLAIN_LINE = 76;
/** What mime-funcs' isPlainText refuses besides non-ASCII: controls other than tab, LF and CR. */
const CONTROL_CHARS = /[\x00-\x08\x0b\x0c\x0e-\x1f]/;
/** Plain, short and ASCII, so nodemailer makes the same decisions for the message as for the real text. */
const PLACEHOLDER_TEXT = "-";

export function composeMessage(
  request: MessageRequest,
  options: {
    hostname: string;
    now: number;
    /** Always stream the message through nodemailer (the shortcut for plain text is checked against this). */
    viaNodemailer?: boolean;
  },
): ComposedMessage {
  rejectLineBreaks(request);
  const from = mailboxList(request.from, "from");
  if (from.length !== 1) throw new MailError("invalid-address", "from must name exactly one address", "from");
  const to = request.to === undefined ? [] : mailboxList(request.to, "to");
  const cc = request.cc === undefined ? [] : mailboxList(request.cc, "cc");
  const bcc = request.bcc === undefined ? [] : mailboxList(request.bcc, "bcc");
  const replyTo = request.replyTo === undefined ? [] : mailboxList(request.replyTo, "replyTo");
  const headers = customHeaders(request.headers ?? {});
  const plainText = options.viaNodemailer ? undefined : textPassedAsIs(request);
  const messageId = `<${newId(options.now)}@${options.hostname}>`;
  const date = new Date(options.now);
  const envelope = { from: from[0]!.address, to: [...to, ...cc, ...bcc].map((m) => m.address) };
  if (plainText !== undefined) {
    const block = simpleHeaderBlock({
      from: from[0]!,
      to,
      cc,
      replyTo,
      subject: request.subject,
      customHeaderCount: Object.keys(headers).length,
      messageId,
      date,
    });
    if (block !== undefined) return { ...envelope, body: plainMessage(block, plainText) };
  }

  const composer = new MailComposer({
    from: from[0],
    ...(to.length ? { to } : {}),
    ...(cc.length ? { cc } : {}),
    // Bcc goes to the composer only so it knows the recipients; MimeNode leaves it out of the headers (keepBcc
    // is false), which the tests check.
    ...(bcc.length ? { bcc } : {}),
    ...(replyTo.length ? { replyTo } : {}),
    ...(request.subject === undefined ? {} : { subject: request.subject }),
    // Plain text nodemailer would pass as it is stands in as one character; the text is put in below.
    ...(request.text === undefined ? {} : { text: plainText === undefined ? request.text : PLACEHOLDER_TEXT }),
    ...(request.html === undefined ? {} : { html: request.html }),
    attachments: (request.attachments ?? []).map((a, i) => {
      if (a.contentType !== undefined && !MEDIA_TYPE.test(a.contentType)) {
        throw new MailError("invalid-request", "not a media type", `attachments[${i}].contentType`);
      }
      return {
        content: Buffer.from(a.content, "base64"),
        ...(a.filename === undefined ? {} : { filename: a.filename }),
        ...(a.contentType === undefined ? {} : { contentType: a.contentType }),
        ...(a.cid === undefined ? {} : { cid: a.cid }),
      };
    }),
    headers,
    messageId,
    date,
    // Content comes only from the request: never let a field make the composer read a file or fetch a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const root = composer.compile();
  return {
    ...envelope,
    body: plainText === undefined ? root.createReadStream() : plainMessage(root.buildHeaders(), plainText),
  };
}

/**
 * The text of a text-only message when nodemailer would send it as it is (7bit): printable ASCII, tab, CR and LF,
 * no line over 76 characters, at most 128 KiB (mime-node's setContent, hasLongerLines and getTransferEncoding).
 * Such a message is its header block and the text, so it is built here: nodemailer finds that out by scanning the
 * text with regular expressions (~0.4 ms per 100 KB) and streams it through a pipeline of its own, per message
 * (issue 9). These checks only ever say "as it is" when nodemailer would; anything else takes nodemailer's path.
 * The bytes are the same (compose.test.ts compares both on random input).
 */
export function textPassedAsIs(request: MessageRequest): string | undefined {
  const text = request.text;
  if (text === undefined || text.length === 0 || text.length > MAX_PLAIN_TEXT) return undefined;
  if (request.html !== undefined || (request.attachments?.length ?? 0) > 0) return undefined;
  // UTF-8 as long as the string: every character is ASCII.
  if (Buffer.byteLength(text, "utf8") !== text.length || CONTROL_CHARS.test(text)) return undefined;
  // A line ends at CR or LF (hasLongerLines: /^.{77,}/m, where "." is neither).
  let cr = text.indexOf("\r");
  let lf = text.indexOf("\n");
  for (let start = 0; ; ) {
    if (cr !== -1 && cr < start) cr = text.indexOf("\r", start);
    if (lf !== -1 && lf < start) lf = text.indexOf("\n", start);
    const end = Math.min(cr === -1 ? text.length : cr, lf === -1 ? text.length : lf);
    if (end - start > MAX_PLAIN_LINE) return undefined;
    if (end === text.length) break;
    start = end + 1;
  }
  return text;
}

/**
 * Header block, blank line, text, and a final line break as nodemailer's LastNewline adds it. One buffer: the text
 * is in memory anyway (the JSON document is parsed whole), and it is at most 128 KiB.
 */
function plainMessage(headerBlock: string, text: string): Readable {
  const last = text.charCodeAt(text.length - 1);
  const ending = last === 10 ? "" : last === 13 ? "\n" : "\r\n";
  return Readable.from([Buffer.from(`${headerBlock}\r\n\r\n${text}${ending}`, "utf8")], { objectMode: false });
}

/** CR or LF in anything that lands in a header would let the caller start headers (or a body) of their own. */
function rejectLineBreaks(request: MessageRequest): void {
  const check = (value: string | undefined, field: string) => {
    if (value !== undefined && /[\r\n]/.test(value)) {
      throw new MailError("header-injection", `${field} must not contain CR or LF`, field);
    }
  };
  const checkMailboxes = (value: Mailboxes | undefined, field: string) => {
    if (value === undefined) return;
    const list = Array.isArray(value) ? value : [value];
    list.forEach((m, i) => {
      const at = Array.isArray(value) ? `${field}[${i}]` : field;
      if (typeof m === "string") check(m, at);
      else {
        check(m.name, `${at}.name`);
        check(m.address, `${at}.address`);
      }
    });
  };
  check(request.subject, "subject");
  checkMailboxes(request.from, "from");
  checkMailboxes(request.to, "to");
  checkMailboxes(request.cc, "cc");
  checkMailboxes(request.bcc, "bcc");
  checkMailboxes(request.replyTo, "replyTo");
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    check(name, "headers");
    check(value, `headers.${name}`);
  }
  (request.attachments ?? []).forEach((a, i) => {
    check(a.filename, `attachments[${i}].filename`);
    check(a.contentType, `attachments[${i}].contentType`);
    check(a.cid, `attachments[${i}].cid`);
  });
}

/** Parses one field's mailboxes ("Name <a@x>", "a@x, b@y" or objects) and validates every address. */
function mailboxList(value: Mailboxes, field: string): NamedAddress[] {
  const list = Array.isArray(value) ? value : [value];
  return list.flatMap((m, i) => {
    const at = Array.isArray(value) ? `${field}[${i}]` : field;
    const parsed: NamedAddress[] =
      typeof m === "string" ? parseMailboxString(m, at) : [{ name: m.name ?? "", address: m.address }];
    for (const { address } of parsed) {
      if (!parseAddress(address)) {
        throw new MailError(
          "invalid-address",
          `${at}: invalid address ${JSON.stringify(address)}`,
          typeof m === "string" ? at : `${at}.address`,
        );
      }
    }
    return parsed;
  });
}

/** A lone address addressparser returns as it is (compose.test.ts checks that on random strings). */
const BARE_ADDRESS = /^[A-Za-z0-9_+.-]+@[A-Za-z0-9.-]+$/;

export function parseMailboxString(value: string, field: string): NamedAddress[] {
  // The common case without the parser: it costs ~1% of the event loop per address under load (issue 9).
  if (BARE_ADDRESS.test(value)) return [{ name: "", address: value }];
  const parsed = addressparser(value, { flatten: true });
  if (parsed.length === 0) throw new MailError("invalid-address", `${field}: no address`, field);
  return parsed.map((p) => ({ name: p.name, address: p.address }));
}

function customHeaders(headers: Record<string, string>): Record<string, string> {
  for (const name of Object.keys(headers)) {
    if (!FIELD_NAME.test(name))
      throw new MailError("invalid-request", `invalid header name ${JSON.stringify(name)}`, `headers.${name}`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new MailError("invalid-request", `the ${name} header cannot be set`, `headers.${name}`);
    }
  }
  return headers;
}
