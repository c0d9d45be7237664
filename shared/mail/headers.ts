// Header parsing helpers shared by intake, DSN and delivery: unfold, look up, and format RFC 5322 dates.

export interface HeaderLine {
  /** Lower-cased field name. */
  key: string;
  /** Unfolded value without the leading space. */
  value: string;
}

/** Parses a raw header block (CRLF lines, possibly folded) into fields in order. */
export function parseHeaderBlock(block: string): HeaderLine[] {
  const fields: HeaderLine[] = [];
  for (const line of block.split("\r\n")) {
    if (line === "") continue;
    if ((line[0] === " " || line[0] === "\t") && fields.length > 0) {
      fields[fields.length - 1]!.value += ` ${line.trim()}`; // RFC 5322 §2.2.3 unfolding
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    fields.push({ key: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  return fields;
}

export function headerValue(fields: readonly HeaderLine[], key: string): string | undefined {
  return fields.find((f) => f.key === key)?.value;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

/** RFC 5322 §3.3 date-time in UTC, e.g. "Wed, 25 Nov 2026 05:39:44 +0000". */
export function formatRfc5322Date(date: Date): string {
  return (
    `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

/** True when a value would break out of its header line (header injection). */
export function hasLineBreak(value: string): boolean {
  return /[\r\n]/.test(value);
}

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

/** Decodes RFC 2047 encoded words (e.g. a Subject) for display; unknown charsets are left as they are. */
export function decodeEncodedWords(value: string): string {
  // RFC 2047 §6.2: white space between adjacent encoded words is not displayed.
  const joined = value.replace(/(\?=)\s+(=\?)/g, "$1$2");
  return joined.replace(ENCODED_WORD, (word, charset: string, encoding: string, text: string) => {
    try {
      const bytes =
        encoding.toUpperCase() === "B"
          ? Buffer.from(text, "base64")
          : Buffer.from(
              text
                .replace(/_/g, " ")
                .replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
              "latin1",
            );
      return new TextDecoder(charset.split("*")[0]!).decode(bytes);
    } catch {
      return word;
    }
  });
}
