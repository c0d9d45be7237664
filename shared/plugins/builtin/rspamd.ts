// core/rspamd: every message is checked by Rspamd (its /checkv2 HTTP API, the body streamed from the store) before
// it is queued. Rspamd's "reject" refuses it (550 5.7.1), or — as configured — tags it or drops it silently;
// "add header" / "rewrite subject" tag it; "soft reject" defers it (451) when `softReject` says so.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { size as sizeUnit } from "../../config/units.ts";
import { definePlugin } from "../hooks.ts";
import { PluginError } from "../plugin-error.ts";
import { parseOptions } from "./options.ts";

const schema = z
  .object({
    url: z.string().url().default("http://127.0.0.1:11333"),
    /** What to do with mail Rspamd would reject. */
    spamAction: z.enum(["reject", "tag", "drop"]).default("reject"),
    /** Defer mail Rspamd asks to "soft reject" (greylisting, rate limits); off by default for an outbound relay. */
    softReject: z.boolean().default(false),
    /** Larger messages are not scanned (Rspamd's own default limit is 50 MB). */
    maxSize: sizeUnit().prefault("20MB"),
    timeoutMs: z.number().int().positive().default(15_000),
    /** When Rspamd cannot be reached: accept unscanned (true) or defer with 451 (false). */
    failOpen: z.boolean().default(true),
    /** Add X-Rspamd-Score / X-Rspamd-Action to every scanned message. */
    scoreHeaders: z.boolean().default(true),
    password: z.string().optional(),
  })
  .strict();

interface RspamdReply {
  action?: string;
  score?: number;
  required_score?: number;
  symbols?: Record<string, unknown>;
}

export const rspamdPlugin = definePlugin({
  name: "rspamd",
  setup(api) {
    const o = parseOptions(schema, api.options);
    const endpoint = new URL("/checkv2", o.url).href;

    api.on("message:queue", async (ctx) => {
      if (ctx.message.size > o.maxSize) return;
      let reply: RspamdReply;
      try {
        const headers: Record<string, string | string[]> = {
          "Queue-Id": ctx.envelope.id,
          ...(ctx.envelope.from ? { From: ctx.envelope.from } : {}),
          // One Rcpt header per recipient (Rspamd's protocol); node:http sends an array as repeated lines.
          Rcpt: ctx.envelope.to,
          ...(ctx.envelope.source.remoteAddress ? { IP: ctx.envelope.source.remoteAddress } : {}),
          ...(ctx.envelope.source.user ? { User: ctx.envelope.source.user } : {}),
          ...(o.password ? { Password: o.password } : {}),
        };
        reply = (await postStream(endpoint, headers, (await ctx.body()) as Readable, o.timeoutMs)) as RspamdReply;
      } catch (err) {
        api.logger.warn({ err, msgId: ctx.envelope.id }, "rspamd check failed");
        if (o.failOpen) return;
        throw new PluginError("Content check unavailable, try again later", { code: 451, enhanced: "4.7.1" });
      }
      const action = reply.action ?? "no action";
      const score = `${(reply.score ?? 0).toFixed(2)} / ${(reply.required_score ?? 0).toFixed(2)}`;
      api.logger.info({ msgId: ctx.envelope.id, action, score }, "rspamd verdict");
      if (o.scoreHeaders) ctx.addHeaders.push(["X-Rspamd-Score", score], ["X-Rspamd-Action", action]);
      if (action === "reject") {
        if (o.spamAction === "reject") {
          throw new PluginError("Message rejected as spam", { permanent: true, code: 550, enhanced: "5.7.1" });
        }
        if (o.spamAction === "drop") ctx.drop = `spam (rspamd ${score})`;
        else ctx.addHeaders.push(["X-Spam", "Yes"]);
      } else if (action === "add header" || action === "rewrite subject") {
        ctx.addHeaders.push(["X-Spam", "Yes"]);
      } else if ((action === "soft reject" || action === "greylist") && o.softReject) {
        throw new PluginError("Message deferred by content check, try again later", { code: 451, enhanced: "4.7.1" });
      }
    });
  },
});

/** POSTs a stream and parses the JSON reply; rejects on a non-2xx status, a network error or the timeout. */
function postStream(
  url: string,
  headers: Record<string, string | string[]>,
  body: Readable,
  timeoutMs: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith("https:") ? httpsRequest : httpRequest)(url, { method: "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => {
        if ((res.statusCode ?? 500) >= 300) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(err);
        }
      });
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    pipeline(body, req).catch(reject);
  });
}
