// An example ZoneRelay plugin (docs/plugins.md walks through it): refuses senders from a block list, tags every
// message with a header, keeps a per-recipient-domain tally of deliveries, and logs bounces.
//
//   plugins:
//     - use: ./examples/plugins/policy-tag.ts
//       options: { tag: "billing", blockedSenders: ["spammer@example.net"], header: "X-Policy-Tag" }
import { definePlugin } from "../../shared/plugins/hooks.ts";
import { PluginError } from "../../shared/plugins/plugin-error.ts";

export default definePlugin({
  name: "policy-tag",

  // The init hook: check the options once, register handlers. A throw here stops the relay with the reason.
  setup(api) {
    const tag = String(api.options.tag ?? "");
    const header = String(api.options.header ?? "X-Policy-Tag");
    const blocked = new Set(((api.options.blockedSenders as string[] | undefined) ?? []).map((s) => s.toLowerCase()));
    if (!tag) throw new Error("option `tag` is required");
    const delivered = new Map<string, number>();

    // SMTP MAIL FROM: a PluginError is the reply; permanent → 5xx, otherwise 4xx.
    api.on("smtp:mail_from", ({ address }) => {
      if (blocked.has(address.toLowerCase())) {
        throw new PluginError(`Sender ${address} is not allowed here`, {
          permanent: true,
          code: 550,
          enhanced: "5.7.1",
        });
      }
    });

    // The same rule for the HTTP API (the JSON request, before validation).
    api.on("api:submit", ({ request }) => {
      const from = request.from;
      const address = typeof from === "string" ? from : ((from as { address?: string } | undefined)?.address ?? "");
      if (blocked.has(address.toLowerCase())) throw new PluginError("Sender not allowed", { permanent: true });
    });

    // Headers at intake: the edit is stored with the message (and covered by DKIM at send time).
    api.on("message:headers", ({ headers }) => {
      headers.add(header, tag, "bottom");
    });

    api.on("sender:delivered", ({ delivery }) => {
      delivered.set(delivery.domain, (delivered.get(delivery.domain) ?? 0) + 1);
    });

    api.on("queue:bounce", ({ delivery, response }) => {
      api.logger.info({ rcpt: delivery.recipient, response, tag }, "bounced");
    });

    api.onClose(() => {
      api.logger.info({ delivered: Object.fromEntries(delivered) }, "deliveries by domain");
    });
  },
});
