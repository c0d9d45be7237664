// The built-in plugins, by the name used in config (`use: core/<name>`).
import type { ZoneRelayPlugin } from "../hooks.ts";
import { defaultHeaders } from "./default-headers.ts";
import { deliveryLoop } from "./delivery-loop.ts";
import { footerPlugin } from "./footer.ts";
import { rspamdPlugin } from "./rspamd.ts";
import { srsPlugin } from "./srs.ts";
import { webhooksPlugin } from "./webhooks.ts";

export const BUILTIN_PLUGINS: Record<string, ZoneRelayPlugin> = {
  "default-headers": defaultHeaders,
  "delivery-loop": deliveryLoop,
  srs: srsPlugin,
  rspamd: rspamdPlugin,
  webhooks: webhooksPlugin,
  footer: footerPlugin,
};
