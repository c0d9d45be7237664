// core/delivery-loop: refuses a message that already passed through this relay too often (its own Received
// headers, by our host name), the loop a misrouted MX or a forwarding rule makes — before it is queued again.
import { z } from "zod";
import { definePlugin } from "../hooks.ts";
import { PluginError } from "../plugin-error.ts";
import { parseOptions } from "./options.ts";

const schema = z.object({ maxHops: z.number().int().positive().default(3) }).strict();

export const deliveryLoop = definePlugin({
  name: "delivery-loop",
  setup(api) {
    const o = parseOptions(schema, api.options);
    const host = api.config.hostname.toLowerCase();
    const ours = new RegExp(`\\bby\\s+${host.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`, "i");
    api.on("message:headers", ({ headers }) => {
      // Our own Received header for this hop is among them.
      const hops = headers.getAll("Received").filter((r) => ours.test(r)).length;
      if (host && hops > o.maxHops) {
        // RFC 5321 §6.3: a loop is refused with 554 5.4.6 (RFC 3463: routing loop detected).
        throw new PluginError(`Mail loop: this message passed ${host} ${hops} times`, {
          permanent: true,
          code: 554,
          enhanced: "5.4.6",
        });
      }
    });
  },
});
