import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { FooterAppender } from "../plugins/builtin/footer.ts";
import { HeaderRewriter } from "./header-rewriter.ts";

async function run(input: string, transform: NodeJS.ReadWriteStream, chunk = 1): Promise<string> {
  const parts: Buffer[] = [];
  const bytes = Buffer.from(input);
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const c of Readable.from(parts).pipe(transform)) out.push(c as Buffer);
  return Buffer.concat(out).toString();
}

describe("HeaderRewriter", () => {
  it("replaces only the header block, whatever the chunking, and streams the body through", async () => {
    for (const size of [1, 3, 1000]) {
      const out = await run(
        "Subject: a\r\nFrom: b@x.test\r\n\r\nbody\r\n\r\nmore\r\n",
        new HeaderRewriter(async (block) => `X-Top: 1\r\n${block}`),
        size,
      );
      expect(out).toBe("X-Top: 1\r\nSubject: a\r\nFrom: b@x.test\r\n\r\nbody\r\n\r\nmore\r\n");
    }
  });

  it("handles an empty header block and a message that is only headers", async () => {
    expect(await run("\r\nbody\r\n", new HeaderRewriter((b) => `X: 1\r\n${b}`))).toBe("X: 1\r\n\r\nbody\r\n");
    expect(await run("Subject: a\r\n", new HeaderRewriter((b) => `X: 1\r\n${b}`), 4)).toBe("X: 1\r\nSubject: a\r\n");
  });
});

describe("FooterAppender (core/footer)", () => {
  it("appends to text/plain, adding the missing line break, and leaves other messages alone", async () => {
    expect(await run("Subject: a\r\n\r\nHi", new FooterAppender("Bye"), 2)).toBe(
      "Subject: a\r\n\r\nHi\r\n-- \r\nBye\r\n",
    );
    expect(await run("Subject: a\r\n\r\nHi\r\n", new FooterAppender("Bye"))).toBe(
      "Subject: a\r\n\r\nHi\r\n-- \r\nBye\r\n",
    );
    const html = "Content-Type: text/html\r\n\r\n<p>Hi</p>\r\n";
    expect(await run(html, new FooterAppender("Bye"))).toBe(html);
    const b64 = "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nSGk=\r\n";
    expect(await run(b64, new FooterAppender("Bye"))).toBe(b64);
  });
});
