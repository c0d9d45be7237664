import { describe, expect, it } from "vitest";
import { composeDsn, type DsnInput } from "./dsn.ts";

// A minimal MIME reader, enough to take our own output apart without adding a parser dependency.
interface Entity {
  headers: Map<string, string>;
  body: string;
}

function parseEntity(raw: string): Entity {
  const end = raw.indexOf("\r\n\r\n");
  const head = end === -1 ? raw : raw.slice(0, end);
  const body = end === -1 ? "" : raw.slice(end + 4);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]/g, " ").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function parts(message: Entity): Entity[] {
  const boundary = /boundary="?([^";]+)"?/.exec(message.headers.get("content-type") ?? "")?.[1];
  if (!boundary) throw new Error("no boundary");
  const segments = message.body.split(`--${boundary}`);
  expect(segments.at(-1)).toBe("--\r\n");
  // Each segment runs from the CRLF after a delimiter to the CRLF that belongs to the next one.
  return segments.slice(1, -1).map((s) => parseEntity(s.slice(2, -2)));
}

function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_m, hex: string) => `%${hex}`);
  return decodeURIComponent(bytes.replace(/%(?![0-9A-F]{2})/g, "%25"));
}

function textOf(part: Entity): string {
  return part.headers.get("content-transfer-encoding") === "quoted-printable"
    ? decodeQuotedPrintable(part.body)
    : part.body;
}

/** The delivery-status body as field groups (RFC 3464 §2.1), folded lines joined back. */
function statusGroups(part: Entity): Map<string, string>[] {
  return part.body
    .replace(/\r\n$/, "")
    .split("\r\n\r\n")
    .map((group) => parseEntity(`${group}\r\n\r\n`).headers);
}

const base: DsnInput = {
  reportingMta: "mta.example.net",
  from: "MAILER-DAEMON@mta.example.net",
  to: "sender@example.org",
  originalEnvelopeFrom: "sender@example.org",
  originalMessageId: "<orig.1@example.org>",
  originalHeaders: [
    "Received: from client.example.org (client.example.org [192.0.2.10]) by mta.example.net with ESMTPSA id abc123",
    "From: Sender <sender@example.org>",
    "To: user@example.com",
    "Subject: Quarterly report",
    "Message-ID: <orig.1@example.org>",
    "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from:to:subject; bh=abc=; b=def==",
    "",
  ].join("\r\n"),
  arrivalDate: new Date("2025-01-14T10:00:00Z"),
  action: "failed",
  messageId: "<dsn.1@mta.example.net>",
  date: new Date("2025-01-14T10:05:00Z"),
  recipients: [
    {
      recipient: "user@example.com",
      status: "5.1.1",
      remoteMta: "mx.example.com",
      diagnostic: "550 5.1.1 <user@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
      lastAttemptDate: new Date("2025-01-14T10:04:00Z"),
    },
  ],
};

async function compose(overrides: Partial<DsnInput> = {}) {
  const raw = (await composeDsn({ ...base, ...overrides })).toString("utf8");
  const message = parseEntity(raw);
  return { raw, message, parts: parts(message) };
}

describe("composeDsn", () => {
  it("builds a multipart/report with the notification, the delivery status and the original headers", async () => {
    const { message, parts } = await compose();
    expect(message.headers.get("content-type")).toMatch(/^multipart\/report; report-type=delivery-status;/);
    expect(message.headers.get("mime-version")).toBe("1.0");
    expect(parts.map((p) => p.headers.get("content-type"))).toEqual([
      "text/plain; charset=utf-8",
      "message/delivery-status",
      "text/rfc822-headers",
    ]);
  });

  it("addresses the report from the mailer daemon to the sender, as an automatic reply to the original", async () => {
    const { message } = await compose();
    const h = message.headers;
    expect(h.get("from")).toBe("Mail Delivery System <MAILER-DAEMON@mta.example.net>");
    expect(h.get("to")).toBe("sender@example.org");
    expect(h.get("subject")).toBe("Undelivered Mail Returned to Sender");
    expect(h.get("date")).toBe("Tue, 14 Jan 2025 10:05:00 +0000");
    expect(h.get("message-id")).toBe("<dsn.1@mta.example.net>");
    expect(h.get("auto-submitted")).toBe("auto-replied");
    expect(h.get("in-reply-to")).toBe("<orig.1@example.org>");
    expect(h.get("references")).toBe("<orig.1@example.org>");
  });

  it("leaves out In-Reply-To and References when the original Message-ID is unknown", async () => {
    const { message } = await compose({ originalMessageId: undefined });
    expect(message.headers.has("in-reply-to")).toBe(false);
    expect(message.headers.has("references")).toBe(false);
  });

  it("keeps a From that already names its sender", async () => {
    const { message } = await compose({ from: "Bounces <bounces@example.net>" });
    expect(message.headers.get("from")).toBe("Bounces <bounces@example.net>");
  });

  it("uses CRLF line endings only, with no line over 998 characters", async () => {
    const { raw } = await compose({
      recipients: [{ ...base.recipients[0]!, diagnostic: `550 5.7.1 ${"very long reply ".repeat(200)}` }],
      originalHeaders: `X-Long: ${"x".repeat(2000)}\nSubject: bare LF\r\n`,
    });
    expect(raw).not.toMatch(/[^\r]\n/);
    expect(raw).not.toMatch(/\r(?!\n)/);
    expect(raw.endsWith("\r\n")).toBe(true);
    for (const line of raw.split("\r\n")) expect(line.length).toBeLessThanOrEqual(998);
  });

  it("reports the per-message and per-recipient fields of RFC 3464", async () => {
    const { parts } = await compose();
    const [perMessage, perRecipient, ...rest] = statusGroups(parts[1]!);
    expect(rest).toEqual([]);
    expect(Object.fromEntries(perMessage!)).toEqual({
      "reporting-mta": "dns; mta.example.net",
      "x-zonerelay-sender": "rfc822; sender@example.org",
      "arrival-date": "Tue, 14 Jan 2025 10:00:00 +0000",
    });
    expect(Object.fromEntries(perRecipient!)).toEqual({
      "final-recipient": "rfc822; user@example.com",
      action: "failed",
      status: "5.1.1",
      "remote-mta": "dns; mx.example.com",
      "diagnostic-code":
        "smtp; 550 5.1.1 <user@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
      "last-attempt-date": "Tue, 14 Jan 2025 10:04:00 +0000",
    });
  });

  it("writes one group per recipient", async () => {
    const { parts } = await compose({
      recipients: [
        { recipient: "a@example.com", status: "5.1.1", diagnostic: "550 5.1.1 User unknown" },
        { recipient: "b@example.com", status: "5.2.2", diagnostic: "552 5.2.2 Mailbox full" },
      ],
    });
    const groups = statusGroups(parts[1]!).slice(1);
    expect(groups.map((g) => [g.get("final-recipient"), g.get("status")])).toEqual([
      ["rfc822; a@example.com", "5.1.1"],
      ["rfc822; b@example.com", "5.2.2"],
    ]);
  });

  it("reports a delay with Will-Retry-Until and a 4.x.x status", async () => {
    const { message, parts } = await compose({
      action: "delayed",
      recipients: [
        {
          recipient: "user@example.com",
          status: "5.7.1",
          diagnostic: "550 5.7.1 Service unavailable; Client host [192.0.2.5] blocked using zen.spamhaus.org",
          lastAttemptDate: new Date("2025-01-14T10:04:00Z"),
          willRetryUntil: new Date("2025-02-13T10:00:00Z"),
        },
      ],
    });
    expect(message.headers.get("subject")).toBe("Delivery Status Notification (Delay)");
    const recipient = statusGroups(parts[1]!)[1]!;
    expect(recipient.get("action")).toBe("delayed");
    expect(recipient.get("status")).toBe("4.7.1");
    expect(recipient.get("will-retry-until")).toBe("Thu, 13 Feb 2025 10:00:00 +0000");
    expect(textOf(parts[0]!)).toContain("still being retried");
  });

  it("gives a failure a 5.x.x status and no Will-Retry-Until", async () => {
    const { parts } = await compose({
      recipients: [
        {
          recipient: "user@example.com",
          status: "4.4.7",
          diagnostic: "451 4.4.2 Timeout - closing connection",
          willRetryUntil: new Date("2025-02-13T10:00:00Z"),
        },
      ],
    });
    const recipient = statusGroups(parts[1]!)[1]!;
    expect(recipient.get("status")).toBe("5.4.7");
    expect(recipient.has("will-retry-until")).toBe(false);
  });

  it("falls back to x.0.0 for a missing or malformed status", async () => {
    const { parts } = await compose({ recipients: [{ recipient: "user@example.com", status: "bogus" }] });
    expect(statusGroups(parts[1]!)[1]!.get("status")).toBe("5.0.0");
  });

  it("explains what happened in the human-readable part, with the remote reply", async () => {
    const { parts } = await compose();
    const text = textOf(parts[0]!);
    expect(text).toContain("This is the mail delivery system at mta.example.net.");
    expect(text).toContain("could not be delivered");
    expect(text).toContain("<user@example.com>: failed (5.1.1)");
    expect(text).toContain("Server: mx.example.com");
    expect(text).toContain("Reply: 550 5.1.1 <user@example.com>: Recipient address rejected: User unknown");
  });

  it("attaches the original header block as it was, without the body", async () => {
    const { parts } = await compose({ originalHeaders: `${base.originalHeaders}\r\nThe body must not appear\r\n` });
    const headers = parts[2]!;
    expect(headers.headers.get("content-transfer-encoding")).toBe("7bit");
    expect(headers.body).toBe(base.originalHeaders);
    expect(headers.body).not.toContain("The body must not appear");
  });

  it("uses the utf-8 address type (RFC 6533) for a non-ASCII recipient and keeps the report 7-bit", async () => {
    const { parts } = await compose({
      recipients: [{ recipient: "jörg+tag@bücher.example", status: "5.1.1", diagnostic: "550 5.1.1 Unknown user" }],
    });
    const status = parts[1]!;
    expect(status.body).not.toMatch(/[^\p{ASCII}]/u);
    expect(statusGroups(status)[1]!.get("final-recipient")).toBe("utf-8; j\\x{F6}rg\\x{2B}tag@b\\x{FC}cher.example");
    expect(textOf(parts[0]!)).toContain("<jörg+tag@bücher.example>: failed (5.1.1)");
  });

  it("writes a non-ASCII sender address in To as raw UTF-8 (RFC 6532)", async () => {
    const { message } = await compose({ to: "josé@example.org", originalEnvelopeFrom: "josé@example.org" });
    expect(message.headers.get("to")).toBe("josé@example.org");
  });

  it("sends original headers with raw UTF-8 as message/global-headers (RFC 6533 §6.3)", async () => {
    const { parts } = await compose({ originalHeaders: "Subject: Grüße\r\nFrom: josé@example.org\r\n" });
    expect(parts[2]!.headers.get("content-type")).toBe("message/global-headers");
    expect(parts[2]!.headers.get("content-transfer-encoding")).toBe("8bit");
    expect(parts[2]!.body).toBe("Subject: Grüße\r\nFrom: josé@example.org\r\n");
  });

  it("strips CR and LF from the diagnostic so a reply cannot inject header fields", async () => {
    const { raw, parts } = await compose({
      recipients: [
        {
          recipient: "user@example.com\r\nX-Injected-Recipient: yes",
          status: "5.7.1",
          remoteMta: "mx.example.com\nX-Injected-Mta: yes",
          diagnostic:
            "550 5.7.1 Rejected\r\nX-Injected: yes\r\n\r\nFinal-Recipient: rfc822; evil@example.com\rAction: delivered",
        },
      ],
      originalMessageId: "<orig.1@example.org>\r\nBcc: victim@example.com",
    });
    expect(raw).not.toMatch(/^X-Injected/im);
    expect(raw).not.toMatch(/^Bcc:/im);
    const groups = statusGroups(parts[1]!);
    expect(groups).toHaveLength(2);
    const recipient = groups[1]!;
    expect(recipient.get("final-recipient")).toBe("rfc822; user@example.comX-Injected-Recipient:yes");
    expect(recipient.get("action")).toBe("failed");
    expect(recipient.get("remote-mta")).toBe("dns; mx.example.com X-Injected-Mta: yes");
    expect(recipient.get("diagnostic-code")).toBe(
      "smtp; 550 5.7.1 Rejected X-Injected: yes Final-Recipient: rfc822; evil@example.com Action: delivered",
    );
  });

  it("unfolds a multi-line reply into one Diagnostic-Code and folds it safely", async () => {
    const reply = [
      "550-5.1.1 The email account that you tried to reach does not exist. Please try",
      "550-5.1.1 double-checking the recipient's email address for typos or",
      "550 5.1.1 unnecessary spaces. - gsmtp",
    ].join("\n");
    const { parts } = await compose({
      recipients: [{ recipient: "user@gmail.com", status: "5.1.1", diagnostic: reply }],
    });
    const lines = parts[1]!.body.split("\r\n");
    const start = lines.findIndex((l) => l.startsWith("Diagnostic-Code:"));
    expect(lines[start + 1]).toMatch(/^ /);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(78);
    expect(statusGroups(parts[1]!)[1]!.get("diagnostic-code")).toBe(`smtp; ${reply.replace(/\n/g, " ")}`);
  });

  it("marks a local error as such instead of an SMTP reply", async () => {
    const { parts } = await compose({
      recipients: [
        {
          recipient: "user@nowhere.invalid",
          status: "5.1.2",
          diagnostic: "ENOTFOUND: DNS lookup for nowhere.invalid failed",
        },
      ],
    });
    expect(statusGroups(parts[1]!)[1]!.get("diagnostic-code")).toBe(
      "X-ZoneRelay; ENOTFOUND: DNS lookup for nowhere.invalid failed",
    );
  });
});
