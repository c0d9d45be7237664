// `zonerelay queue …`: Postfix's mailq / postqueue / postsuper for ZoneRelay, over the HTTP API (so it works
// against any host of a cluster, with the same power and the same audit trail as the web admin).
import { parseArgs } from "node:util";

export const QUEUE_USAGE = `usage: zonerelay queue <command> [options]

commands:
  list                      deliveries, oldest first (like mailq); default: every open delivery
  show ID                   a message (or the message of a delivery) with every attempt
  retry ID... | FILTER      due now (postqueue -i / -f)
  hold ID... | FILTER       never attempted until released (postsuper -h)
  release ID... | FILTER    due again (postsuper -H)
  delete ID... | FILTER     bounce, with a DSN to the sender; --drop deletes silently (postsuper -d)
  flush DOMAIN              every open delivery to DOMAIN due now (postqueue -s)

filters (list, and instead of ids):
  --zone Z  --domain D  --state S[,S]  --older-than 2h  --newer-than 30m  --reply TEXT  --all (every open one)

options:
  --api URL        API base URL (default $ZONERELAY_API or http://127.0.0.1:12080)
  --key KEY        API key without zones (default $ZONERELAY_API_KEY)
  --json           print the API's JSON instead of a table
  --limit N        list: page size (default 100); --all-pages follows every page
  --reason TEXT    delete: said in the DSN and the audit trail
  --drop           delete: no DSN`;

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
}

class ApiError extends Error {}

export async function runQueueCli(argv: string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    io.err(`zonerelay queue: ${(err as Error).message}\n\n${QUEUE_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || !command) {
    io.out(QUEUE_USAGE);
    return command || values.help ? 0 : 2;
  }
  const base = (values.api ?? io.env.ZONERELAY_API ?? "http://127.0.0.1:12080").replace(/\/+$/, "");
  const key = values.key ?? io.env.ZONERELAY_API_KEY;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }).catch((err: Error) => {
      throw new ApiError(`cannot reach ${base}: ${err.cause instanceof Error ? err.cause.message : err.message}`);
    });
    const data = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) throw new ApiError(`${res.status} ${String(data.title ?? "")}: ${String(data.detail ?? "")}`);
    return data;
  };
  const filter = filterOf(values);

  try {
    switch (command) {
      case "list": {
        const q = new URLSearchParams();
        for (const [k, v] of Object.entries(filter))
          if (k !== "all") q.set(k, Array.isArray(v) ? v.join(",") : String(v));
        q.set("limit", values.limit ?? "100");
        const deliveries: Record<string, unknown>[] = [];
        let cursor: string | undefined;
        do {
          if (cursor) q.set("cursor", cursor);
          const page = await call("GET", `/v1/queue/deliveries?${q}`);
          deliveries.push(...(page.deliveries as Record<string, unknown>[]));
          cursor = page.nextCursor as string | undefined;
        } while (cursor && values["all-pages"]);
        if (values.json) io.out(JSON.stringify({ deliveries, ...(cursor ? { nextCursor: cursor } : {}) }, null, 2));
        else printList(deliveries, cursor, io);
        return 0;
      }
      case "show": {
        const id = need(args[0], "show needs an id");
        const message = await call("GET", `/v1/messages/${encodeURIComponent(id)}`).catch(async (err) => {
          // Not a message id: maybe a delivery's.
          const found = await call("GET", `/v1/queue/deliveries?ids=${encodeURIComponent(id)}&state=${ALL_STATES}`);
          const d = (found.deliveries as { messageId: string }[])[0];
          if (!d) throw err;
          return call("GET", `/v1/messages/${encodeURIComponent(d.messageId)}`);
        });
        if (values.json) io.out(JSON.stringify(message, null, 2));
        else printMessage(message, io);
        return 0;
      }
      case "retry":
      case "hold":
      case "release":
      case "delete": {
        const body: Record<string, unknown> = args.length ? { ...filter, ids: args } : filter;
        if (Object.keys(body).length === 0) throw new ApiError(`${command} needs ids, a filter or --all`);
        if (command === "delete") {
          body.mode = values.drop ? "drop" : "bounce";
          if (values.reason) body.reason = values.reason;
        }
        const result = await call("POST", `/v1/queue/${command}`, body);
        if (values.json) io.out(JSON.stringify(result));
        else io.out(`${command}: ${result.affected} ${result.affected === 1 ? "delivery" : "deliveries"}`);
        return 0;
      }
      case "flush": {
        const domain = need(args[0], "flush needs a domain");
        const result = await call("POST", "/v1/queue/flush", { domain, ...(values.zone ? { zone: values.zone } : {}) });
        if (values.json) io.out(JSON.stringify(result));
        else io.out(`flush ${domain}: ${result.affected} ${result.affected === 1 ? "delivery" : "deliveries"} due now`);
        return 0;
      }
      default:
        io.err(`zonerelay queue: unknown command "${command}"\n\n${QUEUE_USAGE}`);
        return 2;
    }
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    io.err(`zonerelay queue ${command}: ${err.message}`);
    return 1;
  }
}

const ALL_STATES = "queued,deferred,held,delivered,bounced,cancelled";

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      api: { type: "string" },
      key: { type: "string" },
      json: { type: "boolean" },
      zone: { type: "string" },
      domain: { type: "string" },
      state: { type: "string" },
      "older-than": { type: "string" },
      "newer-than": { type: "string" },
      reply: { type: "string" },
      all: { type: "boolean" },
      limit: { type: "string" },
      "all-pages": { type: "boolean" },
      reason: { type: "string" },
      drop: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

function filterOf(v: ReturnType<typeof parse>["values"]): Record<string, unknown> {
  return {
    ...(v.zone ? { zone: v.zone } : {}),
    ...(v.domain ? { domain: v.domain } : {}),
    ...(v.state ? { state: v.state.split(",") } : {}),
    ...(v["older-than"] ? { olderThan: v["older-than"] } : {}),
    ...(v["newer-than"] ? { newerThan: v["newer-than"] } : {}),
    ...(v.reply ? { reply: v.reply } : {}),
    ...(v.all ? { all: true } : {}),
  };
}

function need(value: string | undefined, message: string): string {
  if (!value) throw new ApiError(message);
  return value;
}

/** "3m", "2h", "4d": how long ago (or from now, with a sign) in the unit a person reads at a glance. */
export function age(fromMs: number, nowMs = Date.now()): string {
  const s = Math.round(Math.abs(nowMs - fromMs) / 1000);
  const text =
    s < 90
      ? `${s}s`
      : s < 5400
        ? `${Math.round(s / 60)}m`
        : s < 172_800
          ? `${Math.round(s / 3600)}h`
          : `${Math.round(s / 86_400)}d`;
  return fromMs > nowMs ? `in ${text}` : text;
}

/** Plain columns, widths from the data; the last reply on its own indented line, as mailq does. */
function printList(deliveries: Record<string, unknown>[], cursor: string | undefined, io: Io) {
  const rows = deliveries.map((d) => [
    String(d.id),
    String(d.state),
    String(d.zone),
    String(d.attempts),
    age(Date.parse(String(d.receivedAt))),
    d.state === "queued" || d.state === "deferred" ? age(Date.parse(String(d.nextAttemptAt))) : "",
    String(d.recipient),
  ]);
  const head = ["DELIVERY", "STATE", "ZONE", "TRIES", "AGE", "NEXT", "RECIPIENT"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  io.out(line(head));
  deliveries.forEach((d, i) => {
    io.out(line(rows[i]!));
    if (d.lastResponse) io.out(`    ${String(d.lastResponse)}`);
  });
  io.out(
    `-- ${deliveries.length} ${deliveries.length === 1 ? "delivery" : "deliveries"}${cursor ? " (more: --all-pages)" : ""}`,
  );
}

function printMessage(m: Record<string, unknown>, io: Io) {
  io.out(`message   ${String(m.id)}`);
  io.out(`from      ${String(m.from) || "<>"}`);
  if (m.subject) io.out(`subject   ${String(m.subject)}`);
  io.out(`received  ${String(m.receivedAt)}  (${String(m.size)} bytes)`);
  io.out(`msg-id    ${String(m.messageId)}`);
  for (const d of m.deliveries as Record<string, unknown>[]) {
    io.out("");
    io.out(`  ${String(d.recipient)}  ${String(d.state)}  zone ${String(d.zone)}  delivery ${String(d.id)}`);
    for (const a of d.history as Record<string, unknown>[]) {
      const where = [a.localAddress && `from ${String(a.localAddress)}`, a.mx && `to ${String(a.mx)}`, a.tls && "TLS"]
        .filter(Boolean)
        .join(" ");
      io.out(`    ${String(a.at)}  ${String(a.outcome).padEnd(9)} ${String(a.durationMs)}ms  ${where}`);
      io.out(`      ${String(a.response)}`);
    }
  }
}
