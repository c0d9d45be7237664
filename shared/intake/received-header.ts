// The Received trace header we prepend at intake (RFC 5321 §4.4).
import { formatRfc5322Date } from "../mail/headers.ts";
import type { SubmitInput } from "./submit-types.ts";

export function receivedHeader(
  args: SubmitInput & { id: string; hostname: string; recipients: { address: string }[]; now: number },
) {
  const { source, received } = args;
  const client = received?.helo ?? (source.interface === "api" ? "api" : "unknown");
  const addr = source.remoteAddress ? ` ([${source.remoteAddress.replace(/^::ffff:/, "")}])` : "";
  const protocol = received?.protocol ?? (source.interface === "api" ? "HTTP" : "ESMTP");
  const tls = received?.tls ? `\r\n\t(${received.tls})` : "";
  // Name the recipient only for a single-recipient message: listing all would leak Bcc recipients.
  const forClause = args.recipients.length === 1 ? `\r\n\tfor <${args.recipients[0]!.address}>` : "";
  return (
    `Received: from ${sanitize(client)}${addr}\r\n\tby ${args.hostname} (ZoneRelay) with ${protocol} id ${args.id}` +
    `${tls}${forClause};\r\n\t${formatRfc5322Date(new Date(args.now))}`
  );
}

/** HELO names are client-controlled: keep them to one safe token. */
function sanitize(value: string): string {
  return value.replace(/[^\w.:\-[\]]/g, "").slice(0, 255) || "unknown";
}
