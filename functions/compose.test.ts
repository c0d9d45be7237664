// The JSON composer's shortcut for plain text must give exactly the bytes nodemailer gives, whatever the text.
import { text } from "node:stream/consumers";
import addressparser from "nodemailer/lib/addressparser";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../test/support/seeded-random.ts";
import { composeMessage, parseMailboxString, textPassedAsIs } from "./compose.ts";
import type { MessageRequest } from "./message-schema.ts";

const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
const ODD = ["\t", "\x7f", "\x01", "\x0b", "\x1f", "é", "€", "😀", "\u2028", "\0"];
const BREAKS = ["\r\n", "\n", "\r", "\r\r\n", "\n\n"];

/** Lines of 0–80 characters (many at the 76 limit, a few over), mostly printable ASCII, every kind of line break. */
function randomText(next: () => number, odd: boolean): string {
  const lines: string[] = [];
  const count = 1 + Math.floor(next() * 12);
  for (let l = 0; l < count; l++) {
    const length =
      next() < 0.03
        ? 77 + Math.floor(next() * 4)
        : next() < 0.5
          ? 70 + Math.floor(next() * 7)
          : Math.floor(next() * 70);
    let line = "";
    for (let i = 0; i < length; i++) {
      line += odd && next() < 0.01 ? ODD[Math.floor(next() * ODD.length)] : PRINTABLE[Math.floor(next() * 95)];
    }
    if (next() < 0.1) line = `.${line}`;
    lines.push(line, l === count - 1 && next() < 0.3 ? "" : BREAKS[Math.floor(next() * BREAKS.length)]!);
  }
  return lines.join("");
}

function randomRequest(next: () => number, odd: boolean): MessageRequest {
  return {
    from: next() < 0.5 ? "shop@example.com" : { name: "Shop Ü", address: "shop@example.com" },
    to: next() < 0.5 ? "Ann <ann@example.org>" : ["ann@example.org", "bob@example.net"],
    ...(next() < 0.3 ? { cc: "carl@example.net" } : {}),
    ...(next() < 0.3 ? { bcc: "audit@example.com" } : {}),
    ...(next() < 0.5 ? { subject: next() < 0.5 ? "Your order" : "Bestellung für Ännchen" } : {}),
    ...(next() < 0.3 ? { headers: { "X-Campaign": "november", "Content-Language": "de" } } : {}),
    text: randomText(next, odd),
  };
}

/** Both ways of composing, with the random part of the Message-ID taken out. */
async function bothWays(request: MessageRequest): Promise<[string, string]> {
  const options = { hostname: "relay.example.test", now: Date.UTC(2026, 10, 25, 6, 0, 0) };
  const msgId = /^Message-ID: <[^@]+@/m;
  const fast = await text(composeMessage(request, options).body);
  const slow = await text(composeMessage(request, { ...options, viaNodemailer: true }).body);
  return [fast.replace(msgId, "Message-ID: <x@"), slow.replace(msgId, "Message-ID: <x@")];
}

describe("composeMessage for plain text", () => {
  it("gives nodemailer's bytes for texts it sends as they are (7bit)", async () => {
    const next = seededRandom(9);
    let shortcut = 0;
    for (let i = 0; i < 300; i++) {
      const request = randomRequest(next, false);
      if (textPassedAsIs(request) !== undefined) shortcut++;
      const [fast, slow] = await bothWays(request);
      expect(fast, `case ${i}: ${JSON.stringify(request.text)}`).toBe(slow);
    }
    expect(shortcut).toBeGreaterThan(150);
  });

  it("gives nodemailer's bytes when the text has controls, non-ASCII or long lines (no shortcut then)", async () => {
    const next = seededRandom(17);
    for (let i = 0; i < 300; i++) {
      const request = randomRequest(next, true);
      const [fast, slow] = await bothWays(request);
      expect(fast, `case ${i}: ${JSON.stringify(request.text)}`).toBe(slow);
    }
  });

  it("takes nodemailer's path for html, attachments, an empty text or one over 128 KiB", async () => {
    const base = { from: "shop@example.com", to: "ann@example.org" };
    expect(textPassedAsIs({ ...base, text: "Thanks!\r\n" })).toBe("Thanks!\r\n");
    expect(textPassedAsIs({ ...base, text: "Thanks!", html: "<p>Thanks!</p>" })).toBeUndefined();
    expect(textPassedAsIs({ ...base, text: "Thanks!", attachments: [{ content: "AAAA" }] })).toBeUndefined();
    expect(textPassedAsIs({ ...base, text: "" })).toBeUndefined();
    expect(textPassedAsIs({ ...base, text: "x".repeat(76) })).toBeDefined();
    expect(textPassedAsIs({ ...base, text: "x".repeat(77) })).toBeUndefined();
    const big = "0123456789 abcdefghijklmnopqrstuvwxyz\r\n".repeat(3400);
    expect(textPassedAsIs({ ...base, text: big.slice(0, 128 * 1024) })).toBeDefined();
    expect(textPassedAsIs({ ...base, text: big })).toBeUndefined();
    for (const request of [
      { ...base, text: big },
      { ...base, text: big.slice(0, 128 * 1024) },
    ]) {
      const [fast, slow] = await bothWays(request);
      expect(fast).toBe(slow);
    }
  });
});

describe("parseMailboxString", () => {
  it("reads a lone address as addressparser does, and anything else through it", () => {
    const next = seededRandom(31);
    const alphabet = [
      "a",
      "Z",
      "0",
      ".",
      "_",
      "+",
      "-",
      "@",
      "@",
      " ",
      "<",
      ">",
      '"',
      ",",
      ";",
      ":",
      "(",
      ")",
      "é",
      "\\",
    ];
    let bare = 0;
    for (let i = 0; i < 5000; i++) {
      const length = 1 + Math.floor(next() * 14);
      let value = "";
      for (let c = 0; c < length; c++) {
        value += next() < 0.7 ? "abc.x"[Math.floor(next() * 5)] : alphabet[Math.floor(next() * alphabet.length)];
      }
      if (next() < 0.5) value = `${value}@example.com`;
      const expected = addressparser(value, { flatten: true }).map((p) => ({ name: p.name, address: p.address }));
      if (expected.length === 0) continue;
      if (/^[A-Za-z0-9_+.-]+@[A-Za-z0-9.-]+$/.test(value)) bare++;
      expect(parseMailboxString(value, "to"), JSON.stringify(value)).toEqual(expected);
    }
    expect(bare).toBeGreaterThan(500);
  });
});
