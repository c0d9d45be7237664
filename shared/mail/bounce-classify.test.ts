import { describe, expect, it } from "vitest";
import { classifyReply, parseReply } from "./bounce-classify.ts";
import { BOUNCE_CATEGORIES, BOUNCE_RULES } from "./bounce-rules.ts";

type Case = [provider: string, text: string, category: string, action: "defer" | "bounce"];

// Replies as providers send them (IP addresses and host names replaced by documentation values).
const REAL_WORLD: Case[] = [
  // Gmail / Google Workspace
  [
    "gmail",
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550-5.1.1 unnecessary spaces. Learn more at\r\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si123456qkb.12 - gsmtp",
    "recipient-unknown",
    "bounce",
  ],
  [
    "gmail",
    "552-5.2.2 The email account that you tried to reach is over quota. Please direct\r\n552-5.2.2 the recipient to\r\n552 5.2.2  https://support.google.com/mail/?p=OverQuotaPerm - gsmtp",
    "mailbox-full",
    "bounce",
  ],
  [
    "gmail",
    "452-4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp",
    "mailbox-full",
    "defer",
  ],
  [
    "gmail",
    "552-5.3.4 Your message exceeded Google's message size limits. Please visit https://support.google.com/mail/?p=MaxSizeError to view our size guidelines. - gsmtp",
    "message-too-large",
    "bounce",
  ],
  [
    "gmail",
    "550-5.7.1 [192.0.2.5] Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. - gsmtp",
    "spam",
    "bounce",
  ],
  [
    "gmail",
    "421-4.7.28 [192.0.2.5] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. - gsmtp",
    "rate-limited",
    "defer",
  ],
  [
    "gmail",
    "450-4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time. - gsmtp",
    "rate-limited",
    "defer",
  ],
  [
    "gmail",
    "550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. - gsmtp",
    "sender-auth",
    "bounce",
  ],
  [
    "gmail",
    "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy. - gsmtp",
    "sender-auth",
    "bounce",
  ],
  [
    "gmail",
    "550-5.7.25 [192.0.2.5] The IP address sending this message does not have a PTR record setup - gsmtp",
    "sender-auth",
    "bounce",
  ],
  ["gmail", "421-4.7.0 TLS required for RCPT domain, closing connection. - gsmtp", "tls", "defer"],
  ["gmail", "530-5.7.0 Must issue a STARTTLS command first. - gsmtp", "tls", "bounce"],
  [
    "gmail",
    "550-5.7.1 [192.0.2.5] Our system has detected that this message is not RFC 5322 compliant. - gsmtp",
    "content",
    "bounce",
  ],
  [
    "gmail",
    "552-5.7.0 This message was blocked because its content presents a potential security issue. - gsmtp",
    "content",
    "bounce",
  ],
  ["gmail", "550-5.2.1 The email account that you tried to reach is disabled. - gsmtp", "recipient-unknown", "bounce"],
  ["gmail", "421-4.3.0 Temporary System Problem. Try again later (10). - gsmtp", "server-busy", "defer"],
  ["gmail", "555 5.5.2 Syntax error. - gsmtp", "syntax", "bounce"],
  [
    "gmail smarthost",
    "550 5.4.5 Daily user sending limit exceeded. For more information on Gmail sending limits go to https://support.google.com/a/answer/166852 - gsmtp",
    "rate-limited",
    "defer",
  ],
  [
    "gmail smarthost",
    "535-5.7.8 Username and Password not accepted. Learn more at https://support.google.com/mail/?p=BadCredentials - gsmtp",
    "auth-required",
    "bounce",
  ],
  // Microsoft: Outlook.com / Hotmail, Office 365 (EOP), Exchange
  [
    "outlook.com",
    "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [AM0EUR02FT021.eop-EUR02.prod.protection.outlook.com]",
    "recipient-unknown",
    "bounce",
  ],
  [
    "office365",
    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
    "recipient-unknown",
    "bounce",
  ],
  [
    "office365",
    "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DM6NAM11FT012.eop-nam11.prod.protection.outlook.com]",
    "recipient-unknown",
    "bounce",
  ],
  [
    "office365",
    "550 5.7.606 Access denied, banned sending IP [192.0.2.5]. To request removal from this list please visit https://sender.office.com/ and follow the directions.",
    "blocklisted",
    "defer",
  ],
  [
    "office365",
    "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7171)",
    "blocklisted",
    "defer",
  ],
  [
    "outlook.com",
    "550 5.7.1 Unfortunately, messages from [192.0.2.5] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
    "blocklisted",
    "defer",
  ],
  [
    "office365",
    "550 5.7.1 Service unavailable, Client host [192.0.2.5] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.5 (AS3130). [BN1NAM02FT123.eop-nam02.prod.protection.outlook.com]",
    "blocklisted",
    "defer",
  ],
  [
    "office365",
    "451 4.7.500 Server busy. Please try again later from [192.0.2.5]. (AS77712344) [BN8NAM12FT011.eop-nam12.prod.protection.outlook.com]",
    "rate-limited",
    "defer",
  ],
  [
    "outlook.com",
    "421 RP-001 (BAY004-MC1F63) Unfortunately, some messages from 192.0.2.5 weren't sent. Please try again. We have limits for how many messages can be sent per hour and per day.",
    "rate-limited",
    "defer",
  ],
  [
    "office365",
    "550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification and has a DMARC policy of reject.",
    "sender-auth",
    "bounce",
  ],
  [
    "exchange online",
    "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception",
    "mailbox-full",
    "bounce",
  ],
  [
    "office365",
    "550 5.7.64 TenantAttribution; Relay Access Denied [SN1NAM02FT0123.eop-nam02.prod.protection.outlook.com]",
    "relay-denied",
    "bounce",
  ],
  ["office365", "550 5.7.350 Remote server returned message detected as spam", "spam", "bounce"],
  [
    "office365",
    "550 5.7.520 Access denied, Your organization does not allow external forwarding. Please contact your administrator for further assistance. AS(7555)",
    "policy",
    "bounce",
  ],
  ["exchange", "554 5.7.1 Message rejected due to content restrictions", "content", "bounce"],
  ["exchange", "452 4.3.1 Insufficient system resources", "server-busy", "defer"],
  [
    "exchange",
    "421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel",
    "rate-limited",
    "defer",
  ],
  ["exchange", "530 5.7.1 Client was not authenticated", "auth-required", "bounce"],
  ["exchange", "550 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain", "domain-not-found", "bounce"],
  ["exchange", "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "recipient-unknown", "bounce"],
  // Yahoo / AOL
  [
    "yahoo",
    "554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1010.mail.gq1.yahoo.com",
    "recipient-unknown",
    "bounce",
  ],
  [
    "yahoo",
    "554 delivery error: dd Sorry your message to someone@yahoo.com cannot be delivered. This mailbox is disabled (554.30). - mta4.mail.bf1.yahoo.com",
    "recipient-unknown",
    "bounce",
  ],
  [
    "yahoo",
    "421 4.7.0 [TSS04] Messages from 192.0.2.5 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    "rate-limited",
    "defer",
  ],
  [
    "yahoo",
    "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.5, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
    "blocklisted",
    "defer",
  ],
  [
    "yahoo",
    "554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes",
    "sender-auth",
    "bounce",
  ],
  [
    "yahoo",
    "554 Message not allowed - [PH01] Email not accepted for policy reasons. Please visit https://postmaster.yahooinc.com/error-codes",
    "policy",
    "bounce",
  ],
  ["yahoo", "451 Resources temporarily unavailable. Please try again later [#4.16.1].", "server-busy", "defer"],
  // Apple iCloud
  ["icloud", "550 5.1.1 <someone@icloud.com>: user does not exist", "recipient-unknown", "bounce"],
  ["icloud", "552 5.2.2 <someone@icloud.com>: user is overquota", "mailbox-full", "bounce"],
  [
    "icloud",
    "550 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137",
    "policy",
    "bounce",
  ],
  [
    "icloud",
    "421 4.7.1 Messages to someone@icloud.com deferred due to excessive volume. Try again later - https://support.apple.com/en-us/HT204137",
    "rate-limited",
    "defer",
  ],
  [
    "icloud",
    "550 5.7.1 Your email was rejected due to having a domain present in the Spamhaus DBL -- see https://www.spamhaus.org/dbl/",
    "spam",
    "bounce",
  ],
  // Mimecast
  [
    "mimecast",
    "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [aBcD1234efGh.uk12]",
    "recipient-unknown",
    "bounce",
  ],
  [
    "mimecast",
    "451 Internal resources are temporarily unavailable - https://community.mimecast.com/docs/DOC-1369#451",
    "greylisted",
    "defer",
  ],
  [
    "mimecast",
    "550 Rejected by header based Anti-Spoofing policy: sender@example.com - https://community.mimecast.com/docs/DOC-1369#550",
    "policy",
    "bounce",
  ],
  [
    "mimecast",
    "554 Email rejected due to security policies - https://community.mimecast.com/docs/DOC-1369#554",
    "policy",
    "bounce",
  ],
  [
    "mimecast",
    "550 csi.mimecast.org Poor Reputation Sender. - https://community.mimecast.com/docs/DOC-1369#550 [xYz123.us123]",
    "blocklisted",
    "defer",
  ],
  [
    "mimecast",
    "554 Maximum email size exceeded - https://community.mimecast.com/docs/DOC-1369#554",
    "message-too-large",
    "bounce",
  ],
  // Proofpoint, Barracuda, Comcast and the public RBLs (Postfix's reject_rbl_client wording)
  ["proofpoint", "554 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.5", "blocklisted", "defer"],
  [
    "barracuda",
    "554 Service unavailable; Client host [192.0.2.5] blocked using Barracuda Reputation, http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.5",
    "blocklisted",
    "defer",
  ],
  [
    "spamhaus",
    "554 5.7.1 Service unavailable; Client host [192.0.2.5] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.5",
    "blocklisted",
    "defer",
  ],
  [
    "spamcop",
    "554 5.7.1 Service unavailable; Client host [192.0.2.5] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.5",
    "blocklisted",
    "defer",
  ],
  [
    "barracuda rbl",
    "554 5.7.1 Service unavailable; Client host [192.0.2.5] blocked using b.barracudacentral.org; http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.5",
    "blocklisted",
    "defer",
  ],
  [
    "comcast",
    "554 resimta-po-11v.sys.comcast.net resimta-po-11v.sys.comcast.net 192.0.2.5 found on one or more DNSBLs, see http://postmaster.comcast.net/smtp-error-codes.php#BL000010",
    "blocklisted",
    "defer",
  ],
  ["amazon ses", "554 Throttling failure: Daily message quota exceeded.", "rate-limited", "defer"],
  // Postfix (and Dovecot LMTP, amavis, policyd-spf, postgrey behind it)
  [
    "postfix",
    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
    "recipient-unknown",
    "bounce",
  ],
  ["postfix", "554 5.7.1 <someone@example.org>: Relay access denied", "relay-denied", "bounce"],
  ["postfix", "552 5.3.4 Message size exceeds fixed limit", "message-too-large", "bounce"],
  [
    "postgrey",
    "450 4.2.0 <someone@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html",
    "greylisted",
    "defer",
  ],
  ["postfix", "450 4.1.8 <sender@example.net>: Sender address rejected: Domain not found", "policy", "defer"],
  ["postfix", "454 4.7.0 TLS not available due to local problem", "tls", "defer"],
  ["postfix", "501 5.1.3 Bad recipient address syntax", "syntax", "bounce"],
  ["postfix", "550 5.7.1 <someone@example.com>: Recipient address rejected: Access denied", "policy", "bounce"],
  ["dovecot", "552 5.2.2 <someone@example.com> Quota exceeded (mailbox for user is full)", "mailbox-full", "bounce"],
  [
    "policyd-spf",
    "550 5.7.23 <someone@example.com>: Recipient address rejected: Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mfrom;id=sender@example.net;ip=192.0.2.5;r=someone@example.com",
    "sender-auth",
    "bounce",
  ],
  ["amavis", "554 5.7.0 Reject, id=12345-01 - INFECTED: Eicar-Test-Signature", "content", "bounce"],
  // Exim
  ["exim", "550 Unrouteable address", "recipient-unknown", "bounce"],
  ["exim (cpanel)", "550 No Such User Here", "recipient-unknown", "bounce"],
  ["exim", "552 Message size exceeds maximum permitted", "message-too-large", "bounce"],
  ["exim", "451 Temporary local problem - please try later", "server-busy", "defer"],
  [
    "exim",
    "550-Verification failed for <sender@example.net>\r\n550-No Such User Here\r\n550 Sender verify failed",
    "policy",
    "bounce",
  ],
  ["exim", "550 relay not permitted", "relay-denied", "bounce"],
  // qmail
  ["qmail", "550 sorry, no mailbox here by that name. (#5.1.1)", "recipient-unknown", "bounce"],
  ["qmail", "553 sorry, that domain isn't in my list of allowed rcpthosts. (#5.7.1)", "relay-denied", "bounce"],
  ["qmail", "552 sorry, that message size exceeds my databytes limit (#5.3.4)", "message-too-large", "bounce"],
  ["qmail", "451 qq temporary problem (#4.3.0)", "server-busy", "defer"],
  // Standards
  ["rfc 7505", "556 5.1.10 Recipient address has null MX", "null-mx", "bounce"],
  ["rfc 5321", "421 Service not available, closing transmission channel", "server-busy", "defer"],
  ["zonerelay", "553 5.6.7 Destination does not support SMTPUTF8, required by this address", "smtputf8", "bounce"],
];

describe("classifyReply on real-world replies", () => {
  it("has at least 50 of them", () => {
    expect(REAL_WORLD.length).toBeGreaterThanOrEqual(50);
  });

  it.each(REAL_WORLD)("%s: %s → %s, %s", (_provider, text, category, action) => {
    const verdict = classifyReply({ text });
    expect({ category: verdict.category, action: verdict.action }).toEqual({ category, action });
    expect(verdict.temporary).toBe(action === "defer");
  });
});

describe("a 4xx reply never bounces", () => {
  it.each([
    [
      "450 4.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table",
      "recipient-unknown",
    ],
    ["452 4.2.2 Mailbox full", "mailbox-full"],
    ["452 4.3.4 Message size exceeds fixed limit", "message-too-large"],
    ["451 4.7.1 Client host [192.0.2.5] blocked using zen.spamhaus.org", "blocklisted"],
    ["421 4.7.0 This message is suspicious due to the very low reputation of the sending domain - gsmtp", "spam"],
    ["450 4.7.1 <someone@example.org>: Relay access denied", "relay-denied"],
    ["451 4.1.10 Recipient address has null MX", "null-mx"],
    ["450 5.1.1 User unknown", "recipient-unknown"],
  ])("defers %s and keeps the category %s", (text, category) => {
    expect(classifyReply({ text })).toMatchObject({ category, action: "defer", temporary: true });
  });

  it("defers even when the matching rule says bounce", () => {
    const verdict = classifyReply({ code: 451, text: "451 4.4.0 Lookup failed", errorCode: "ENULLMX", stage: "dns" });
    expect(verdict).toEqual({ category: "null-mx", action: "defer", temporary: true, rule: "local-null-mx" });
  });

  it("takes the code given over the one in the text", () => {
    expect(classifyReply({ code: 451, text: "550 5.1.1 User unknown" })).toMatchObject({
      category: "recipient-unknown",
      action: "defer",
    });
  });
});

describe("5xx replies", () => {
  it("bounce by default, as other, when no rule matches", () => {
    expect(
      classifyReply({ text: "550 permanent failure for one or more recipients (someone@example.com:blocked)" }),
    ).toEqual({
      category: "other",
      action: "bounce",
      temporary: false,
      rule: "default-5xx",
    });
  });

  it("defer when the server says to try again later", () => {
    expect(classifyReply({ text: "554 5.7.1 Service unavailable; please try again later" })).toMatchObject({
      category: "server-busy",
      action: "defer",
      rule: "5xx-try-again-later",
    });
  });

  it("defer for greylisting even with a 5xx", () => {
    expect(classifyReply({ text: "550 5.7.1 Greylisted, please come back later" })).toMatchObject({
      category: "greylisted",
      action: "defer",
    });
  });

  it("defer for too many recipients (RFC 5321 §4.5.3.1.10)", () => {
    expect(classifyReply({ text: "552 5.5.3 Too many recipients" })).toMatchObject({
      category: "rate-limited",
      action: "defer",
    });
  });

  it("use the enhanced code's class when there is no reply code", () => {
    expect(classifyReply({ enhanced: "5.1.1", text: "mailbox does not exist" })).toMatchObject({
      category: "recipient-unknown",
      action: "bounce",
    });
  });
});

describe("local errors (no reply)", () => {
  it.each([
    ["connect ECONNREFUSED 127.0.0.1:25", "ECONNREFUSED", "connect", "connection", "defer", "local-connection"],
    ["read ECONNRESET", "ECONNRESET", "data", "connection", "defer", "local-connection"],
    ["connect EHOSTUNREACH 192.0.2.25:25", "EHOSTUNREACH", "connect", "connection", "defer", "local-connection"],
    ["Connection closed unexpectedly", "ECONNECTION", "network", "connection", "defer", "local-protocol"],
    ["Greeting never received", "ETIMEDOUT", "greeting", "timeout", "defer", "local-timeout"],
    ["Timeout", "ETIMEDOUT", "data", "timeout", "defer", "local-timeout"],
    ["Error initiating TLS - self-signed certificate", "ETLS", "starttls", "tls", "defer", "local-tls"],
    [
      "DNS lookup for nowhere.invalid failed (ENOTFOUND)",
      "ENOTFOUND",
      "dns",
      "domain-not-found",
      "bounce",
      "local-nxdomain",
    ],
    ["Domain example.com does not accept mail (null MX)", "ENULLMX", "dns", "null-mx", "bounce", "local-null-mx"],
    ["DNS lookup for example.com failed (ESERVFAIL)", "ESERVFAIL", "dns", "dns", "defer", "local-dns-failure"],
    ["DNS lookup for example.com failed (ETIMEOUT)", "ETIMEOUT", "dns", "dns", "defer", "local-dns-failure"],
    ["No address found for the mail exchangers of example.com", "ENOADDR", "dns", "dns", "defer", "local-dns-failure"],
    ["getaddrinfo ENOTFOUND mx1.example.com", "ENOTFOUND", "connect", "dns", "defer", "local-resolve-failure"],
    [
      "No usable local address for the MX hosts of example.com",
      "ENOLOCAL",
      undefined,
      "connection",
      "defer",
      "local-connection",
    ],
    [
      "Message size larger than allowed 10485760",
      "EMESSAGE",
      "mail",
      "message-too-large",
      "bounce",
      "local-size-exceeded",
    ],
    ["Something unexpected", "EINTERNAL", undefined, "other", "defer", "default-no-reply"],
  ])("%s (%s at %s) → %s, %s", (text, errorCode, stage, category, action, rule) => {
    const verdict = classifyReply({ text, errorCode, ...(stage ? { stage } : {}) });
    expect(verdict).toEqual({ category, action, temporary: action === "defer", rule });
  });

  it("classifies a reply carried by a connection error by the reply", () => {
    const text = "421 4.7.0 [TSS04] Messages from 192.0.2.5 temporarily deferred due to unexpected volume";
    expect(classifyReply({ code: 421, text, errorCode: "ECONNECTION", stage: "mail" })).toMatchObject({
      category: "rate-limited",
      action: "defer",
    });
  });

  it("never bounces an unexpected 2xx", () => {
    expect(classifyReply({ code: 250, text: "250 OK" })).toMatchObject({
      action: "defer",
      rule: "default-unexpected-reply",
    });
  });
});

describe("parseReply", () => {
  it("reads the code and enhanced code and unfolds continuation lines", () => {
    expect(parseReply("550-5.1.1 The account\r\n550-5.1.1 does not\r\n550 5.1.1 exist - gsmtp")).toEqual({
      code: 550,
      enhanced: "5.1.1",
      line: "550-5.1.1 The account does not exist - gsmtp",
    });
  });
  it("finds qmail's trailing (#5.1.1)", () => {
    expect(parseReply("550 sorry, no mailbox here by that name. (#5.1.1)").enhanced).toBe("5.1.1");
  });
  it("does not take an IP address for an enhanced code", () => {
    expect(parseReply("550 5.6.7.8 listed at dnsbl.example").enhanced).toBeUndefined();
  });
  it("finds nothing in a local error", () => {
    expect(parseReply("connect ECONNREFUSED 127.0.0.1:25")).toEqual({ line: "connect ECONNREFUSED 127.0.0.1:25" });
  });
});

describe("the rule table", () => {
  it("has unique rule names", () => {
    const names = BOUNCE_RULES.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
  });
  it("gives every rule at least one condition and no stateful (g/y) patterns", () => {
    for (const rule of BOUNCE_RULES) {
      const conditions = Object.values(rule.match).filter((v) => v !== undefined);
      expect(conditions.length, rule.name).toBeGreaterThan(0);
      for (const v of conditions) if (v instanceof RegExp) expect(v.flags, rule.name).not.toMatch(/[gy]/);
    }
  });
  it("uses only known categories and covers the ones the docs promise", () => {
    for (const rule of BOUNCE_RULES) expect(BOUNCE_CATEGORIES, rule.name).toContain(rule.category);
    for (const c of [
      "recipient-unknown",
      "mailbox-full",
      "message-too-large",
      "blocklisted",
      "spam",
      "policy",
      "rate-limited",
      "auth-required",
      "dns",
      "tls",
      "connection",
      "timeout",
      "smtputf8",
      "syntax",
      "domain-not-found",
      "null-mx",
      "content",
      "relay-denied",
      "other",
    ]) {
      expect(BOUNCE_CATEGORIES).toContain(c);
    }
  });
  it("keeps the 5xx deferrals to the documented few", () => {
    const deferring = BOUNCE_RULES.filter((r) => r.action === "defer").map((r) => r.name);
    expect(deferring).toEqual([
      "too-many-recipients",
      "rate-limit-text",
      "greylisted",
      "ip-blocklisted",
      "5xx-try-again-later",
    ]);
  });
  it("lets only local errors bounce without a reply", () => {
    const bouncing = BOUNCE_RULES.filter((r) => r.action === "bounce");
    for (const rule of bouncing) expect(rule.match.errorCode, rule.name).toBeDefined();
  });
});
