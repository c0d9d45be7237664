// core/default-headers: header fields every message should have or must not carry, set at intake — MIME-Version,
// fields of your own (added when missing), and fields to remove (Bcc by default, as ZoneMTA does).
import { z } from "zod";
import { definePlugin } from "../hooks.ts";
import { parseOptions } from "./options.ts";

const schema = z
  .object({
    add: z.record(z.string(), z.string()).default({}),
    remove: z.array(z.string()).default(["Bcc"]),
    mimeVersion: z.boolean().default(true),
  })
  .strict();

export const defaultHeaders = definePlugin({
  name: "default-headers",
  setup(api) {
    const o = parseOptions(schema, api.options);
    api.on("message:headers", ({ headers }) => {
      for (const name of o.remove) headers.remove(name);
      if (o.mimeVersion && !headers.has("MIME-Version")) headers.add("MIME-Version", "1.0", "bottom");
      for (const [name, value] of Object.entries(o.add)) if (!headers.has(name)) headers.add(name, value, "bottom");
    });
  },
});
