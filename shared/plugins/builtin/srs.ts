// core/srs: rewrites the envelope sender of mail from domains we may not send for (forwarding) with SRS, so SPF
// passes at the receiver; a bounce to such an address is taken in (even from clients that may not relay), checked
// and sent back to the original sender.
import { z } from "zod";
import { Srs, SrsError } from "../../mail/srs.ts";
import { definePlugin } from "../hooks.ts";
import { PluginError } from "../plugin-error.ts";
import { parseOptions } from "./options.ts";

const schema = z
  .object({
    secret: z.string().min(16),
    domain: z.string().min(1),
    /** Envelope senders at these domains (and their subdomains) are ours: never rewritten. */
    excludeDomains: z.array(z.string()).default([]),
    maxAgeDays: z.number().int().positive().default(21),
  })
  .strict();

export const srsPlugin = definePlugin({
  name: "srs",
  setup(api) {
    const o = parseOptions(schema, api.options);
    const srs = new Srs({ secret: o.secret, domain: o.domain, maxAgeDays: o.maxAgeDays });
    const own = [o.domain, ...o.excludeDomains].map((d) => d.toLowerCase());
    const isOwn = (domain: string) => own.some((d) => domain === d || domain.endsWith(`.${d}`));

    api.on("sender:connect", ({ envelope }) => {
      const from = envelope.from;
      const domain = from.slice(from.lastIndexOf("@") + 1).toLowerCase();
      if (from && !isOwn(domain)) envelope.from = srs.forward(from);
    });

    // Reverse SRS: bounces to our SRS addresses go to the original sender.
    api.on("smtp:rcpt_to", (ctx) => {
      if (!srs.isSrs(ctx.address)) return;
      try {
        ctx.address = srs.reverse(ctx.address);
        ctx.accept = true;
      } catch (err) {
        if (!(err instanceof SrsError)) throw err;
        throw new PluginError(`Invalid SRS address: ${err.message}`, { permanent: true, code: 550, enhanced: "5.1.1" });
      }
    });
  },
});
