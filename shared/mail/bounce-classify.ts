// Classifies a failed delivery attempt — a remote SMTP reply or a local error — into a category and an action
// (defer or bounce) using the ordered rule table in bounce-rules.ts. Pure: no I/O, no state.
import { BOUNCE_RULES, type BounceRule } from "./bounce-rules.ts";

export interface ReplyInput {
  /** The reply code; parsed from `text` when missing. */
  code?: number;
  /** The enhanced status code, e.g. "5.1.1"; parsed from `text` when missing. */
  enhanced?: string;
  /** The reply as received (possibly multi-line), or a local error message. */
  text: string;
  /** Where the attempt failed (dns, connect, greeting, ehlo, starttls, mail, rcpt, data, network). */
  stage?: string;
  /** The local error code, e.g. ECONNREFUSED, ENOTFOUND. */
  errorCode?: string;
}

export interface Verdict {
  category: string;
  action: "defer" | "bounce";
  /** Same as action === "defer": another attempt may succeed. */
  temporary: boolean;
  /** The name of the rule that matched, or default-4xx / default-5xx / default-no-reply / default-unexpected-reply. */
  rule: string;
}

export interface ParsedReply {
  code?: number;
  enhanced?: string;
  /** The text on one line: line breaks folded to spaces, continuation prefixes ("550-5.1.1 ") removed. */
  line: string;
}

// RFC 5321 §4.2: "550-..." continues a reply, "550 ..." ends it; RFC 3463 §2: class.subject.detail.
const REPLY_LINE = /^([2-5]\d\d)(?:[ -]|$)(?:([245]\.\d{1,3}\.\d{1,3})(?=\s|$))?/;
// qmail and some others put the enhanced code at the end instead: "(#5.1.1)".
const HASH_ENHANCED = /#([245]\.\d{1,3}\.\d{1,3})\b/;

export function parseReply(text: string): ParsedReply {
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l.trim() !== "");
  const first = REPLY_LINE.exec(lines[0]?.trimStart() ?? "");
  const code = first?.[1] ? Number(first[1]) : undefined;
  const enhanced = first?.[2] ?? HASH_ENHANCED.exec(text)?.[1];
  const parts = lines.map((l, i) => {
    const trimmed = l.trim();
    if (i === 0 || code === undefined) return trimmed;
    // Continuation lines repeat the code (and usually the enhanced code): keep only their words.
    const m = REPLY_LINE.exec(trimmed);
    return m && Number(m[1]) === code ? trimmed.slice(m[0].length).trim() : trimmed;
  });
  return {
    ...(code !== undefined ? { code } : {}),
    ...(enhanced ? { enhanced } : {}),
    line: parts.join(" ").replace(/\s+/g, " ").trim(),
  };
}

export function classifyReply(input: ReplyInput, rules: readonly BounceRule[] = BOUNCE_RULES): Verdict {
  const parsed = parseReply(input.text);
  const code = input.code ?? parsed.code;
  const enhanced = input.enhanced ?? parsed.enhanced;
  const rule = rules.find((r) => matches(r, { code, enhanced, line: parsed.line, input }));
  // The reply code decides whether a failure is final; without one, the enhanced code's class does.
  const replyClass = code !== undefined ? Math.floor(code / 100) : enhanced ? Number(enhanced[0]) : undefined;

  let action: Verdict["action"];
  let fallback: string;
  if (replyClass === 4) {
    // RFC 5321 §4.2.1: a 4xx is transient whatever its words say; only the category is taken from the rule.
    action = "defer";
    fallback = "default-4xx";
  } else if (replyClass === 5) {
    action = rule?.action === "defer" ? "defer" : "bounce";
    fallback = "default-5xx";
  } else if (replyClass === undefined) {
    // Network, DNS and TLS errors are temporary unless a rule knows better (NXDOMAIN, null MX).
    action = rule?.action === "bounce" ? "bounce" : "defer";
    fallback = "default-no-reply";
  } else {
    // A 2xx/3xx where a failure was reported is a confused exchange, not a verdict on the recipient.
    action = "defer";
    fallback = "default-unexpected-reply";
  }
  return { category: rule?.category ?? "other", action, temporary: action === "defer", rule: rule?.name ?? fallback };
}

function matches(
  rule: BounceRule,
  subject: { code: number | undefined; enhanced: string | undefined; line: string; input: ReplyInput },
): boolean {
  const { match } = rule;
  if (match.code) {
    const { code } = subject;
    if (code === undefined) return false;
    if (
      match.code instanceof RegExp ? !match.code.test(String(code)) : code < match.code.min || code > match.code.max
    ) {
      return false;
    }
  }
  if (match.enhanced && (subject.enhanced === undefined || !match.enhanced.test(subject.enhanced))) return false;
  if (match.text && !match.text.test(subject.line)) return false;
  if (match.errorCode && !(subject.input.errorCode && match.errorCode.includes(subject.input.errorCode))) return false;
  if (match.stage && !(subject.input.stage && match.stage.includes(subject.input.stage))) return false;
  return true;
}
