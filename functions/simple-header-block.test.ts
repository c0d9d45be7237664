// The hand-built header block must be nodemailer's whenever it is built: random fields near every rule's edge
// (quotes, "=?", dots, upper case, long lines, spaces), compared with MailComposer's buildHeaders.
import MailComposer from "nodemailer/lib/mail-composer";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../test/support/seeded-random.ts";
import { type SimpleHeaderFields, simpleHeaderBlock } from "./simple-header-block.ts";

const pick = <T>(next: () => number, list: readonly T[]): T => list[Math.floor(next() * list.length)]!;

const LOCAL_PARTS = ["ann", "a.b", "x_y+tag", "o-k", "Bob", "9", ".dot", "a..b", "sp ace", '"q"', "ü", "a@b"];
const DOMAINS = ["example.com", "mail.example.org", "a-b.test", "EXAMPLE.com", "xn--zz.test", "a--b.test", "x", "ü.de"];
const NAMES = ["", "", "Ann", "Ann Lee", "A_1", "Ann  Lee", " Ann", "Ann ", "A. Lee", 'Say "hi"', "Jürgen", "O'Brien"];
const SUBJECT_WORDS = ["Your", "order", "#42", "is", "ready!", "a=?b", "=?utf-8?q?x?=", '"quoted"', "tab\there", "é"];

/** Mostly plain (the first few of each list), now and then odd. */
function randomAddress(next: () => number) {
  const from = <T>(list: readonly T[], plain: number) => pick(next, next() < 0.9 ? list.slice(0, plain) : list);
  return { name: from(NAMES, 5), address: `${from(LOCAL_PARTS, 5)}@${from(DOMAINS, 3)}` };
}

function randomList(next: () => number) {
  const length = next() < 0.4 ? 0 : 1 + Math.floor(next() * (next() < 0.2 ? 6 : 2));
  return Array.from({ length }, () => randomAddress(next));
}

function randomSubject(next: () => number): string | undefined {
  if (next() < 0.15) return undefined;
  if (next() < 0.05) return pick(next, ["", " ", "  x", "x  "]);
  const words = Array.from({ length: Math.floor(next() * 14) }, () =>
    next() < 0.85 ? pick(next, SUBJECT_WORDS.slice(0, 5)) : pick(next, SUBJECT_WORDS),
  );
  return words.join(next() < 0.95 ? " " : "  ");
}

function randomFields(next: () => number): SimpleHeaderFields {
  return {
    from: next() < 0.7 ? { name: pick(next, NAMES.slice(0, 5)), address: "shop@example.com" } : randomAddress(next),
    to: next() < 0.7 ? [randomAddress(next)] : randomList(next),
    cc: randomList(next),
    replyTo: next() < 0.7 ? [] : randomList(next),
    subject: randomSubject(next),
    customHeaderCount: next() < 0.1 ? 1 : 0,
    messageId: `<${"m".repeat(Math.floor(next() * 40))}@relay.example.test>`,
    date: new Date(Date.UTC(2026, Math.floor(next() * 12), 1 + Math.floor(next() * 28), 6, 0, 0)),
  };
}

/** What MailComposer writes for the same fields, with the one-character text compose.ts stands in for plain text. */
function nodemailerBlock(fields: SimpleHeaderFields): string {
  const composer = new MailComposer({
    from: fields.from,
    ...(fields.to.length ? { to: [...fields.to] } : {}),
    ...(fields.cc.length ? { cc: [...fields.cc] } : {}),
    ...(fields.replyTo.length ? { replyTo: [...fields.replyTo] } : {}),
    ...(fields.subject === undefined ? {} : { subject: fields.subject }),
    text: "-",
    headers: {},
    messageId: fields.messageId,
    date: fields.date,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return composer.compile().buildHeaders();
}

describe("simpleHeaderBlock", () => {
  it("is nodemailer's block whenever it builds one, and builds one for most plain fields", () => {
    const next = seededRandom(20261126);
    let built = 0;
    let declined = 0;
    for (let i = 0; i < 3000; i++) {
      const fields = randomFields(next);
      const block = simpleHeaderBlock(fields);
      if (block === undefined) {
        declined++;
        continue;
      }
      built++;
      expect(block, `case ${i}: ${JSON.stringify(fields)}`).toBe(nodemailerBlock(fields));
    }
    // Both ways are exercised: the rules decline the odd cases and take the plain ones.
    expect(built).toBeGreaterThan(600);
    expect(declined).toBeGreaterThan(600);
  });

  it("declines what nodemailer would encode, quote or fold", () => {
    const plain: SimpleHeaderFields = {
      from: { name: "Shop", address: "shop@example.com" },
      to: [{ name: "", address: "ann@example.org" }],
      cc: [],
      replyTo: [],
      subject: "Your order",
      customHeaderCount: 0,
      messageId: "<id@relay.example.test>",
      date: new Date(Date.UTC(2026, 10, 26)),
    };
    expect(simpleHeaderBlock(plain)).toBe(nodemailerBlock(plain));
    const declined: Partial<SimpleHeaderFields>[] = [
      { subject: "Bestellung für Ännchen" },
      { subject: 'Say "hi"' },
      { subject: "=?utf-8?q?x?=" },
      { subject: "x".repeat(70) },
      { from: { name: "A. Lee", address: "shop@example.com" } },
      { to: [{ name: "", address: "ann@EXAMPLE.org" }] },
      { to: Array.from({ length: 5 }, (_, i) => ({ name: "", address: `reader${i}@example.org` })) },
      { customHeaderCount: 1 },
    ];
    for (const change of declined)
      expect(simpleHeaderBlock({ ...plain, ...change }), JSON.stringify(change)).toBe(undefined);
  });
});
