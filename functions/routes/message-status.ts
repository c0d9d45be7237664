// A submitted message afterwards: GET /v1/messages/:id (status and attempt history), DELETE (cancel).
import { type Context, Hono } from "hono";
import type { Attempt, MessageStatus } from "../../shared/domain/envelope.ts";
import { MailError } from "../../shared/errors.ts";
import type { ApiEnv, AppDeps } from "../app-env.ts";
import { audit } from "../operator.ts";
import { problem } from "../problem.ts";

export function messageStatusRoutes(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();

  app.get("/:id", async (c) => {
    const status = await visibleMessage(c, deps);
    return c.json(present(status));
  });

  app.delete("/:id", async (c) => {
    const status = await visibleMessage(c, deps);
    const cancelled = await deps.queue.cancel(status.message.id, deps.clock.now());
    if (cancelled === 0) {
      return problem({
        status: 409,
        kind: "nothing-to-cancel",
        title: "Nothing to cancel",
        detail: "Every delivery of this message is already delivered, bounced or cancelled",
      });
    }
    await audit(c, deps, "message.cancel", { id: status.message.id }, cancelled);
    return c.json({ id: status.message.id, cancelled });
  });

  return app;
}

/**
 * The message, if this caller may see it. A key scoped to zones sees only messages whose deliveries all go
 * through its zones; anything else is a 404, so ids of other tenants' messages are not even confirmed.
 */
async function visibleMessage(c: Context<ApiEnv>, deps: AppDeps): Promise<MessageStatus> {
  const id = c.req.param("id")!;
  const status = await deps.queue.getMessage(id);
  const zones = c.get("caller").zones;
  if (!status || (zones && !status.deliveries.every((d) => zones.includes(d.zone)))) {
    throw new MailError("not-found", `No message with id ${JSON.stringify(id)}`);
  }
  return status;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The last failed attempt's category (`blocklisted`, `mailbox-full`, …), when there is one. */
function categoryOf(history: Attempt[]): { category?: string } {
  const last = history.at(-1);
  return last && last.outcome !== "delivered" && last.category ? { category: last.category } : {};
}

/** The API's view of a message: times as ISO 8601, storage details (body id, leases) left out. */
function present({ message, deliveries }: MessageStatus) {
  return {
    id: message.id,
    messageId: message.messageIdHeader,
    from: message.from,
    ...(message.subject === undefined ? {} : { subject: message.subject }),
    size: message.size,
    receivedAt: iso(message.receivedAt),
    source: message.source,
    deliveries: deliveries.map((d) => ({
      id: d.id,
      recipient: d.recipient,
      zone: d.zone,
      state: d.state,
      attempts: d.attempts,
      nextAttemptAt: iso(d.nextAttemptAt),
      ...(d.lastResponse === undefined ? {} : { lastResponse: d.lastResponse }),
      // The classification of the last failure (docs/bounces.md): why it waits or why it bounced.
      ...categoryOf(d.history),
      updatedAt: iso(d.updatedAt),
      history: d.history.map((a) => ({
        at: iso(a.at),
        durationMs: a.durationMs,
        outcome: a.outcome,
        response: a.response,
        ...(a.category === undefined ? {} : { category: a.category }),
        ...(a.mx === undefined ? {} : { mx: a.mx }),
        ...(a.localAddress === undefined ? {} : { localAddress: a.localAddress }),
        ...(a.tls === undefined ? {} : { tls: a.tls }),
        ...(a.tlsPolicy === undefined ? {} : { tlsPolicy: a.tlsPolicy }),
        ...(a.tlsVersion === undefined ? {} : { tlsVersion: a.tlsVersion }),
        ...(a.tlsCipher === undefined ? {} : { tlsCipher: a.tlsCipher }),
      })),
    })),
  };
}
