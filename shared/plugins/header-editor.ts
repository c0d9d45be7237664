// A header block as an editable list of fields (folded lines kept together), for plugins that add, change or remove
// header fields at intake (message:headers) or at send time (sender:headers).
import { hasLineBreak } from "../mail/headers.ts";

export class HeaderEditor {
  /** Whole fields, folding included, without the final CRLF. */
  private fields: string[];

  constructor(block: string) {
    this.fields = [];
    for (const line of block.split("\r\n")) {
      if (line === "") continue;
      if ((line[0] === " " || line[0] === "\t") && this.fields.length) {
        this.fields[this.fields.length - 1] += `\r\n${line}`;
      } else {
        this.fields.push(line);
      }
    }
  }

  /** Unfolded values of every field with this name, top first. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    return this.fields
      .filter((f) => nameOf(f) === key)
      .map((f) =>
        f
          .slice(f.indexOf(":") + 1)
          .replace(/\r\n[ \t]+/g, " ")
          .trim(),
      );
  }

  get(name: string): string | undefined {
    return this.getAll(name)[0];
  }

  has(name: string): boolean {
    return this.getAll(name).length > 0;
  }

  /** Adds a field at the top (trace fields, like Received, go there) or at the bottom. */
  add(name: string, value: string, where: "top" | "bottom" = "top"): void {
    const line = field(name, value);
    if (where === "top") this.fields.unshift(line);
    else this.fields.push(line);
  }

  /** Replaces the first field with this name (in place), or adds it at the bottom. */
  set(name: string, value: string): void {
    const key = name.toLowerCase();
    const i = this.fields.findIndex((f) => nameOf(f) === key);
    if (i === -1) this.fields.push(field(name, value));
    else this.fields[i] = field(name, value);
  }

  remove(name: string): number {
    const key = name.toLowerCase();
    const before = this.fields.length;
    this.fields = this.fields.filter((f) => nameOf(f) !== key);
    return before - this.fields.length;
  }

  /** The header block, CRLF-terminated lines, without the blank line. */
  toString(): string {
    return this.fields.length ? `${this.fields.join("\r\n")}\r\n` : "";
  }
}

function nameOf(f: string): string {
  return f.slice(0, f.indexOf(":")).trim().toLowerCase();
}

function field(name: string, value: string): string {
  // A plugin must not be able to inject a header or end the header section (RFC 5322 §2.2).
  if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) throw new Error(`Invalid header name ${JSON.stringify(name)}`);
  if (hasLineBreak(value)) throw new Error(`Header ${name} must not contain CR or LF`);
  return `${name}: ${value}`;
}
