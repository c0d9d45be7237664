// The bounce classification table, kept as data: ordered rules, the first whose conditions all hold wins.
// Wording comes from the replies of Gmail, Microsoft (Outlook.com/Office 365/Exchange), Yahoo/AOL, iCloud, Mimecast,
// Proofpoint, Barracuda, the public RBLs and Postfix/Exim/qmail; enhanced codes from RFC 3463 and the IANA registry.
// The classifier (bounce-classify.ts) turns a match into an action; docs/bounces.md explains the categories.

export const BOUNCE_CATEGORIES = [
  "recipient-unknown",
  "mailbox-full",
  "message-too-large",
  "blocklisted",
  "spam",
  "content",
  "policy",
  "sender-auth",
  "rate-limited",
  "greylisted",
  "server-busy",
  "auth-required",
  "relay-denied",
  "dns",
  "domain-not-found",
  "null-mx",
  "tls",
  "connection",
  "timeout",
  "smtputf8",
  "syntax",
  "other",
] as const;

export type BounceCategory = (typeof BOUNCE_CATEGORIES)[number];

export interface BounceRule {
  /** Unique; reported as Verdict.rule and in logs. */
  name: string;
  category: BounceCategory;
  /**
   * Overrides the default action. A 4xx reply is always deferred whatever this says; "defer" on a rule lets a 5xx
   * be retried (kept rare, each one says why); "bounce" on a rule lets an error without a reply be final.
   */
  action?: "defer" | "bounce";
  /** Every condition given must hold; a rule without conditions is a bug (the table test checks). */
  match: {
    /** The three-digit reply code: a pattern for its decimal form, or an inclusive range. */
    code?: RegExp | { min: number; max: number };
    /** The enhanced status code, e.g. "5.1.1" (RFC 3463). */
    enhanced?: RegExp;
    /** The reply text, unfolded to one line (multi-line continuation prefixes removed). */
    text?: RegExp;
    /** The local error code (Node/nodemailer), e.g. ECONNREFUSED, or ours: ENULLMX, ENOADDR, ENOLOCAL. */
    errorCode?: readonly string[];
    /** Where the attempt failed: dns, connect, greeting, ehlo, starttls, mail, rcpt, data, network. */
    stage?: readonly string[];
  };
}

const ANY_5XX = { min: 500, max: 599 };

export const BOUNCE_RULES: readonly BounceRule[] = [
  // ── Local errors: no reply from a server, only an error code ─────────────────────────────────────────────────
  // RFC 7505: a null MX ("MX 0 .") says the domain accepts no mail at all.
  { name: "local-null-mx", category: "null-mx", action: "bounce", match: { errorCode: ["ENULLMX"] } },
  // NXDOMAIN for the recipient domain (or no MX and no address: RFC 5321 §5.1 leaves nowhere to deliver).
  {
    name: "local-nxdomain",
    category: "domain-not-found",
    action: "bounce",
    match: { errorCode: ["ENOTFOUND"], stage: ["dns"] },
  },
  // SERVFAIL, resolver timeouts and refusals, a named MX without addresses: the DNS may answer better later.
  { name: "local-dns-failure", category: "dns", match: { stage: ["dns"] } },
  // An MX host name that does not resolve when connecting is the MX's problem, not the recipient domain's.
  {
    name: "local-resolve-failure",
    category: "dns",
    match: { errorCode: ["ENOTFOUND", "EAI_AGAIN", "EDNS", "ENOADDR"] },
  },
  // The message is larger than the SIZE the server announced (RFC 1870), checked by the client before sending.
  {
    name: "local-size-exceeded",
    category: "message-too-large",
    action: "bounce",
    match: { errorCode: ["EMESSAGE"], text: /size larger than allowed/i },
  },
  { name: "local-tls", category: "tls", match: { errorCode: ["ETLS"] } },
  { name: "local-timeout", category: "timeout", match: { errorCode: ["ETIMEDOUT", "ESOCKETTIMEDOUT", "ETIMEOUT"] } },
  {
    name: "local-connection",
    category: "connection",
    match: {
      errorCode: [
        "ECONNREFUSED",
        "ECONNRESET",
        "ECONNABORTED",
        "EHOSTUNREACH",
        "EHOSTDOWN",
        "ENETUNREACH",
        "ENETDOWN",
        "EADDRNOTAVAIL",
        "EADDRINUSE",
        "EPIPE",
        "ESOCKET",
        "ENOLOCAL",
      ],
    },
  },

  // ── Wording that contradicts its enhanced code ──────────────────────────────────────────────────────────────
  // Exchange/Office 365 use 5.1.10 for an unknown recipient, which the IANA registry gives to null MX.
  {
    name: "microsoft-recipient-not-found",
    category: "recipient-unknown",
    match: { text: /RESOLVER\.ADR\.(?:Ex)?Recip(?:ient)?NotFound|Recipient not found by SMTP address lookup/i },
  },
  // Office 365 directory-based edge blocking: "550 5.4.1 Recipient address rejected: Access denied".
  {
    name: "microsoft-dbeb",
    category: "recipient-unknown",
    match: { enhanced: /^5\.4\.1$/, text: /Recipient address rejected: Access denied/i },
  },
  // Exchange: a distribution group that accepts only authenticated or listed senders.
  { name: "microsoft-restricted-recipient", category: "policy", match: { text: /RESOLVER\.RST\./i } },

  // ── Authentication of the sender: SPF, DKIM, DMARC, reverse DNS ─────────────────────────────────────────────
  // Yahoo/AOL answer a DMARC failure with "554 5.7.9 Message not accepted for policy reasons".
  {
    name: "yahoo-dmarc",
    category: "sender-auth",
    match: { enhanced: /^5\.7\.9$/, text: /not accepted for policy reasons/i },
  },
  {
    name: "sender-auth-text",
    category: "sender-auth",
    match: {
      text: /\bDMARC\b|\bSPF\b|\bDKIM\b|Sender Policy Framework|sender is unauthenticated|unauthenticated (?:e-?mail|mail|sender)|does not have a PTR record|reverse DNS|IPv6 sending guidelines/i,
    },
  },

  // ── Rate limits (5xx deferred: the limit lifts by itself) ────────────────────────────────────────────────────
  // RFC 5321 §4.5.3.1.10: a 552 "too many recipients" is to be treated as temporary; 452 is the proper code.
  { name: "too-many-recipients", category: "rate-limited", action: "defer", match: { enhanced: /^[45]\.5\.3$/ } },
  // Smarthost quotas (Gmail/Workspace "550 5.4.5 Daily user sending limit exceeded", Amazon SES
  // "554 Throttling failure: Daily message quota exceeded") and servers that rate-limit with a 5xx: retry later.
  {
    name: "rate-limit-text",
    category: "rate-limited",
    action: "defer",
    match: {
      text: /rate[ -]?limit|receiving mail (?:too quickly|at a rate)|too many (?:concurrent |simultaneous )?(?:connections|sessions|messages|recipients|mails|emails)|concurrent connections has exceeded|(?:sending|message|relay|send) (?:limit|quota)s? (?:exceeded|reached)|(?:daily|hourly) (?:\w+ )?(?:sending |message |send )?(?:limit|quota)|throttl|unexpected volume|excessive (?:volume|number)|deferred due to (?:excessive|unusual)|\bRP-00\d\b|\bDYN:T\d\b/i,
    },
  },
  // Microsoft "451 4.7.500 Server busy. Please try again later from [ip]" is its IP throttling (4.7.500-4.7.699).
  { name: "microsoft-throttling", category: "rate-limited", match: { enhanced: /^4\.7\.[56]\d\d$/ } },

  // ── Greylisting (5xx deferred: greylisting is temporary by definition, whatever code a server uses) ──────────
  // Mimecast greylists with "451 Internal resources are temporarily unavailable".
  {
    name: "greylisted",
    category: "greylisted",
    action: "defer",
    match: { text: /gr[ae]y-?list|internal resources? (?:are |is )?temporarily unavailable/i },
  },

  // ── Reputation of the sending IP (5xx deferred: see below) ──────────────────────────────────────────────────
  // A recipient's own block list names the sender, not our IP: final.
  {
    name: "blocked-by-recipient",
    category: "policy",
    match: { text: /(?:black|block)(?:ed|listed) by (?:the )?(?:recipient|user)|blocked senders?\b|envelope blocked/i },
  },
  // A domain in the message or envelope on a domain block list (Spamhaus DBL, URIBL, SURBL): the content is the
  // problem, so another attempt of the same message fails the same way.
  {
    name: "domain-blocklisted",
    category: "spam",
    match: { text: /dbl\.spamhaus|Spamhaus DBL|\buribl\b|\bsurbl\b/i },
  },
  // The sending IP on a DNSBL or a provider's reputation list (Spamhaus ZEN/SBL/XBL/PBL, SpamCop, Barracuda,
  // SORBS, Cloudmark/Mimecast, Proofpoint, Microsoft S3150/5.7.606/5.7.708, Yahoo [BLnn], Comcast). Deferred even
  // on 5xx: the listing is about our IP, not the message or the recipient; a delisting or another address of the
  // zone's pool gets the message through, and queue.maxQueueTime still bounds the wait.
  {
    name: "ip-blocklisted",
    category: "blocklisted",
    action: "defer",
    match: {
      text: /blocked using|black ?list|block ?list|\bdnsbls?\b|\brbl\b|spamhaus|spamcop|barracuda ?(?:central|reputation)|barracudacentral|\bsorbs\b|ipcheck\.proofpoint|csi\.cloudmark|poor reputation sender|banned sending ip|traffic not accepted from this ip|\[BL\d+\]|listed (?:at|in|on|by) |\bRTR:BL\b/i,
    },
  },

  // ── Transport requirements ──────────────────────────────────────────────────────────────────────────────────
  {
    name: "tls-required-text",
    category: "tls",
    match: {
      text: /STARTTLS|TLS (?:is )?required|requires? (?:a )?(?:TLS|secure connection)|encryption (?:is )?required|TLS not available|\bcertificate\b/i,
    },
  },
  // RFC 3463 X.7.10/X.7.11 (encryption needed), RFC 8689 X.7.30 (REQUIRETLS).
  { name: "tls-required-code", category: "tls", match: { enhanced: /^[45]\.7\.(?:10|11|30)$/ } },
  {
    name: "smtputf8-text",
    category: "smtputf8",
    match: {
      text: /SMTPUTF8|non-ASCII (?:address|mailbox|characters? in (?:the )?address)|UTF-?8 (?:address|mailbox)/i,
    },
  },
  // RFC 6531/6533: X.6.7 non-ASCII addresses not permitted, X.6.8-X.6.10 UTF-8 replies and headers.
  { name: "smtputf8-code", category: "smtputf8", match: { enhanced: /^[45]\.6\.(?:7|8|9|10)$/ } },
  {
    name: "auth-required-text",
    category: "auth-required",
    match: {
      text: /authentication (?:is )?required|not authenticated|must (?:first )?authenticate|authentication (?:failed|unsuccessful)|Username and Password not accepted|Invalid login/i,
    },
  },
  {
    name: "relay-denied",
    category: "relay-denied",
    match: {
      text: /relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited|not allowed)|unable to relay|list of allowed rcpthosts|we do not relay|open relay/i,
    },
  },

  // ── The envelope sender ─────────────────────────────────────────────────────────────────────────────────────
  {
    name: "sender-rejected",
    category: "policy",
    match: {
      text: /Sender address rejected|sender verify failed|Verification failed for|badmailfrom|bad outbound sender|sender (?:address |domain )?(?:is )?(?:invalid|not allowed|refused|rejected)/i,
    },
  },

  // ── The recipient ───────────────────────────────────────────────────────────────────────────────────────────
  {
    name: "mailbox-full",
    category: "mailbox-full",
    match: {
      text: /mailbox (?:is )?full|mailbox size limit|over ?quota|quota (?:exceeded|exceed)|QuotaExceeded|exceeded (?:the |his |her |its |their )?(?:storage|quota|mailbox)|recipient storage full|insufficient (?:disk )?(?:space|storage) (?:in|for) (?:the )?mailbox|mailbox has exceeded/i,
    },
  },
  {
    name: "message-too-large",
    category: "message-too-large",
    match: {
      text: /message (?:size )?(?:exceeds|exceeded|is too (?:large|big))|size (?:exceeds|limit)|exceeds? (?:the )?(?:maximum|fixed) (?:message )?size|message (?:is )?too (?:large|big)|maximum (?:e-?mail |message )size|databytes limit/i,
    },
  },
  {
    name: "domain-not-found",
    category: "domain-not-found",
    match: {
      text: /domain (?:name )?(?:not found|does not exist|doesn't exist)|no such domain|host or domain name not found|unrouteable (?:mail )?domain|NonExistentDomain|\bNXDOMAIN\b/i,
    },
  },

  // ── Spam, content, policy ───────────────────────────────────────────────────────────────────────────────────
  {
    name: "spam",
    category: "spam",
    match: {
      text: /\bspam\b|spam-like|unsolicited|junk ?mail|suspicious due to|low reputation|bad reputation|poor reputation|\bRLY:CH\b|\bHVU:/i,
    },
  },
  {
    name: "content",
    category: "content",
    match: {
      text: /virus|malware|infected|security issue|dangerous|attachment|executable|not RFC ?5322 compliant|content (?:filter|restrictions|policy)|rejected due to content|message content rejected/i,
    },
  },
  {
    name: "recipient-unknown",
    category: "recipient-unknown",
    match: {
      text: /user unknown|unknown (?:user|recipient|mailbox|address)|recipient unknown|addressee unknown|no such (?:user|mailbox|recipient|address|account)|does not exist|doesn't exist|invalid (?:recipient|mailbox|address|user)|(?:recipient|mailbox|user) not found|mailbox (?:is )?unavailable|unrouteable address|no mailbox here|not a valid (?:mailbox|recipient|user)|(?:account|mailbox|address|user) (?:has been |is )?(?:disabled|deactivated|inactive|suspended|closed|expired)|inactive (?:user|account|mailbox)|doesn't have a .+ account|not our customer|no longer (?:active|available|in use)/i,
    },
  },
  {
    name: "policy",
    category: "policy",
    match: {
      text: /\bpolic(?:y|ies)\b|administrative prohibition|prohibited|not (?:allowed|authorized|permitted)|access denied|no SMTP service/i,
    },
  },
  { name: "timeout-text", category: "timeout", match: { text: /timed? ?out|timeout|expired/i } },
  // A few servers answer a passing fault with a 5xx and say so: believe the words, not the code.
  {
    name: "5xx-try-again-later",
    category: "server-busy",
    action: "defer",
    match: { code: ANY_5XX, text: /(?:please )?try (?:again )?later|temporar(?:il)?y (?:unavailable|deferred)/i },
  },
  {
    name: "server-busy-text",
    category: "server-busy",
    match: {
      text: /try (?:again )?later|temporar(?:il)?y|server (?:is )?busy|too busy|overloaded|insufficient system (?:storage|resources)|resources? (?:are |is )?temporarily (?:not available|unavailable)|service (?:is )?(?:currently )?(?:not |un)available|local (?:error|problem)|qq temporary problem/i,
    },
  },

  // ── Enhanced status codes (RFC 3463, IANA registry) when the words said nothing ─────────────────────────────
  { name: "enhanced-null-mx", category: "null-mx", match: { enhanced: /^[45]\.1\.10$/ } },
  { name: "enhanced-bad-mailbox", category: "recipient-unknown", match: { enhanced: /^[45]\.1\.[146]$/ } },
  { name: "enhanced-bad-domain", category: "domain-not-found", match: { enhanced: /^[45]\.1\.2$/ } },
  { name: "enhanced-bad-syntax", category: "syntax", match: { enhanced: /^[45]\.1\.3$/ } },
  { name: "enhanced-bad-sender", category: "policy", match: { enhanced: /^[45]\.1\.[78]$/ } },
  { name: "enhanced-mailbox-disabled", category: "recipient-unknown", match: { enhanced: /^[45]\.2\.1$/ } },
  { name: "enhanced-mailbox-full", category: "mailbox-full", match: { enhanced: /^[45]\.2\.2$/ } },
  { name: "enhanced-too-large", category: "message-too-large", match: { enhanced: /^[45]\.(?:2\.3|3\.4)$/ } },
  { name: "enhanced-system-full", category: "server-busy", match: { enhanced: /^[45]\.3\.[12]$/ } },
  { name: "enhanced-timeout", category: "timeout", match: { enhanced: /^[45]\.4\.[27]$/ } },
  { name: "enhanced-routing", category: "dns", match: { enhanced: /^[45]\.4\.[34]$/ } },
  { name: "enhanced-congestion", category: "server-busy", match: { enhanced: /^[45]\.4\.5$/ } },
  { name: "enhanced-network", category: "connection", match: { enhanced: /^[45]\.4\.[01]$/ } },
  { name: "enhanced-protocol", category: "syntax", match: { enhanced: /^[45]\.5\.\d+$/ } },
  { name: "enhanced-content", category: "content", match: { enhanced: /^[45]\.(?:6\.\d+|7\.[567])$/ } },
  { name: "enhanced-auth", category: "auth-required", match: { enhanced: /^[45]\.7\.(?:8|9|12)$/ } },
  { name: "enhanced-sender-auth", category: "sender-auth", match: { enhanced: /^[45]\.7\.(?:2[0-6]|29)$/ } },
  { name: "enhanced-owner-changed", category: "recipient-unknown", match: { enhanced: /^[45]\.7\.1[78]$/ } },
  { name: "enhanced-mail-flood", category: "spam", match: { enhanced: /^[45]\.7\.28$/ } },
  { name: "enhanced-policy", category: "policy", match: { enhanced: /^[45]\.7\.\d+$/ } },

  // ── Basic reply codes (RFC 5321 §4.2.3, RFC 7504) when nothing else did ─────────────────────────────────────
  { name: "code-service-unavailable", category: "server-busy", match: { code: /^(?:421|451|452)$/ } },
  { name: "code-syntax", category: "syntax", match: { code: /^(?:50[0-4]|553|555)$/ } },
  { name: "code-no-mail-accepted", category: "null-mx", match: { code: /^(?:521|556)$/ } },
  { name: "code-auth", category: "auth-required", match: { code: /^(?:530|534|535|538)$/ } },
  { name: "code-user-not-local", category: "recipient-unknown", match: { code: /^551$/ } },
  // RFC 5321 §3.1: 554 in the greeting means "no SMTP service here".
  { name: "code-no-service", category: "policy", match: { code: /^554$/, stage: ["connect", "greeting"] } },

  // ── Local errors that may carry a reply (a connection closed after a reply, a garbled reply) ────────────────
  { name: "local-protocol", category: "connection", match: { errorCode: ["ECONNECTION", "EPROTOCOL"] } },
];
