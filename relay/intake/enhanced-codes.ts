// smtp-server adds a generic enhanced status code by reply number (552 → 5.2.2 "mailbox full"); our replies carry
// the precise one from shared/errors.ts, so a reply text that already starts with one is sent as it is.
import { SMTPConnection } from "smtp-server/lib/smtp-connection";

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;
let installed = false;

export function keepOwnEnhancedCodes() {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as { send(code: number, data: unknown, context?: unknown): void };
  const original = proto.send;
  proto.send = function send(code, data, context) {
    return original.call(this, code, data, typeof data === "string" && ENHANCED.test(data) ? false : context);
  };
}
