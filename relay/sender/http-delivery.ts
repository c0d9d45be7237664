// Delivery by HTTP POST (a zone's or a route's `http`): the stored message as the body (message/rfc822), the
// envelope in headers. 2xx delivered; 408/429/5xx and network errors deferred; other 4xx bounced.
import { Readable } from "node:stream";
import type { ZoneConfig } from "../../shared/config/schema.ts";
import type { Attempt, LeasedDelivery } from "../../shared/domain/envelope.ts";
import type { PluginHost } from "../../shared/plugins/host.ts";
import type { BodyStore } from "../../shared/ports/body-store.ts";
import type { Clock } from "../../shared/ports/clock.ts";
import type { AttemptResult } from "./attempt.ts";
import type { DkimSetup } from "./dkim.ts";
import { prepareOutgoing } from "./outgoing.ts";

type HttpDelivery = NonNullable<ZoneConfig["http"]>;

/** A 4xx that a retry could fix: timeouts, rate limits, conflicts of the moment. */
const TEMPORARY_4XX = new Set([408, 409, 423, 425, 429]);

export async function attemptHttpDelivery(
  d: LeasedDelivery,
  target: HttpDelivery,
  deps: { bodyStore: BodyStore; clock: Clock; dkim?: DkimSetup | undefined; plugins?: PluginHost | undefined },
): Promise<AttemptResult> {
  const started = deps.clock.now();
  const record = (outcome: Attempt["outcome"], response: string, category?: string): Attempt => ({
    deliveryId: d.id,
    at: started,
    durationMs: deps.clock.now() - started,
    outcome,
    response: response.slice(0, 1000),
    mx: new URL(target.url).host,
    ...(category ? { category } : {}),
  });
  try {
    const body = await (await prepareOutgoing(d, deps)).open();
    const res = await fetch(target.url, {
      method: "POST",
      headers: {
        ...target.headers,
        "content-type": "message/rfc822",
        "x-envelope-from": d.message.from,
        "x-envelope-to": d.recipient,
        "x-message-id": d.messageId,
        "x-delivery-id": d.id,
      },
      body: Readable.toWeb(body) as ReadableStream,
      duplex: "half",
      signal: AbortSignal.timeout(target.timeout),
    } as RequestInit);
    const text = (await res.text().catch(() => "")).replace(/\s+/g, " ").trim().slice(0, 300);
    const response = `HTTP ${res.status} ${res.statusText}${text ? `: ${text}` : ""}`;
    if (res.ok) return { outcome: "delivered", status: "2.0.0", attempt: record("delivered", response) };
    if (res.status >= 500 || TEMPORARY_4XX.has(res.status)) {
      const category = res.status === 429 ? "rate-limited" : "server-busy";
      return { outcome: "deferred", status: "4.0.0", attempt: record("deferred", response, category) };
    }
    return { outcome: "bounced", status: "5.0.0", attempt: record("bounced", response, "policy") };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const code = e.name === "TimeoutError" ? "ETIMEDOUT" : (e.cause?.code ?? e.name);
    const category = code === "ETIMEDOUT" ? "timeout" : "connection";
    return { outcome: "deferred", status: "4.4.1", attempt: record("deferred", `${code}: ${e.message}`, category) };
  }
}
