// The OpenAPI 3.1 description of every route of the HTTP API, served at GET /openapi.json. Hand-written; a test
// checks that each route the Hono app registers is described here (functions/openapi.test.ts).

type Schema = Record<string, unknown>;
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema, description: string) => ({ description, content: { "application/json": { schema } } });
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});
const errors = {
  "400": problem("Invalid request"),
  "401": problem("No or wrong API key"),
  "403": problem("A key limited to zones, or a session without its CSRF token"),
  "503": problem("Storage unavailable; retry after Retry-After"),
};
const operator = {
  ...errors,
  "404": problem("Unknown id, or the backend offers no queue operations"),
};
const idParam = (name: string, description: string) => ({
  name,
  in: "path",
  required: true,
  schema: { type: "string" },
  description,
});
const query = (name: string, description: string, schema: Schema = { type: "string" }) => ({
  name,
  in: "query",
  required: false,
  schema,
  description,
});
const filterBody = (extra: Schema = {}, required: string[] = []) => ({
  required: true,
  content: {
    "application/json": {
      schema: { allOf: [ref("DeliveryFilter"), { type: "object", properties: extra, required }] },
    },
  },
});
const affected = json(
  { type: "object", properties: { affected: { type: "integer" } }, required: ["affected"] },
  "How many deliveries changed",
);

const address = {
  oneOf: [
    { type: "string", examples: ["Ann <ann@example.org>"] },
    {
      type: "object",
      properties: { name: { type: "string" }, address: { type: "string", format: "email" } },
      required: ["address"],
    },
  ],
};

export const OPENAPI = {
  openapi: "3.1.0",
  info: {
    title: "ZoneRelay HTTP API",
    version: "1",
    description:
      "Submit mail, follow it, and operate the queue. Every error is application/problem+json (RFC 9457). " +
      "Operator routes need an API key without `zones` or a web admin session (with X-CSRF-Token to change things).",
  },
  servers: [{ url: "/" }],
  security: [{ bearer: [] }],
  tags: [
    { name: "messages", description: "Submission and status" },
    { name: "queue", description: "Queue operations (operators)" },
    { name: "operations", description: "Suspensions, warm-up, config, audit, metrics, health" },
  ],
  paths: {
    "/health": {
      get: {
        tags: ["operations"],
        summary: "Cheap health check (no auth, no I/O)",
        security: [],
        responses: {
          "200": json({ type: "object", properties: { status: { const: "ok" } } }, "Healthy"),
          "503": json(
            { type: "object", properties: { status: { const: "unavailable" }, reasons: { type: "array" } } },
            "A port reports itself unhealthy",
          ),
        },
      },
    },
    "/metrics": {
      get: {
        tags: ["operations"],
        summary: "Prometheus metrics of this host (text exposition format)",
        description: "Needs an unscoped API key unless metrics.public is true. Absent on a Lambda intake.",
        responses: {
          "200": { description: "Metrics", content: { "text/plain": { schema: { type: "string" } } } },
          ...errors,
        },
      },
    },
    "/openapi.json": {
      get: {
        tags: ["operations"],
        summary: "This document",
        security: [],
        responses: { "200": json({ type: "object" }, "OpenAPI 3.1 document") },
      },
    },
    "/v1/messages": {
      post: {
        tags: ["messages"],
        summary: "Submit a message as JSON",
        description: 'Or `{ "upload": "<id>" }` alone: the JSON document was uploaded first (POST /v1/uploads).',
        parameters: [
          {
            name: "Idempotency-Key",
            in: "header",
            required: false,
            schema: { type: "string", maxLength: 255 },
            description: "A repeat within api.idempotencyTtl queues nothing and answers 200",
          },
        ],
        requestBody: { required: true, content: { "application/json": { schema: ref("MessageRequest") } } },
        responses: {
          "202": json(ref("Accepted"), "Queued"),
          "200": json(ref("Accepted"), "Repeated Idempotency-Key: the first answer"),
          "413": problem("Message too large"),
          "422": problem("Header injection, invalid address, mail loop, too many recipients"),
          ...errors,
        },
      },
    },
    "/v1/messages/batch": {
      post: {
        tags: ["messages"],
        summary: "Submit up to 500 JSON messages in one request",
        description:
          "Each message is validated, composed and queued on its own and answered in its place in `results`: " +
          "the body POST /v1/messages would answer, with its status (202, 200 for a repeat, or a problem). " +
          "An Idempotency-Key covers each message by its place in the array.",
        parameters: [
          {
            name: "Idempotency-Key",
            in: "header",
            required: false,
            schema: { type: "string", maxLength: 255 },
            description: "A retried batch within api.idempotencyTtl queues nothing again and gets the first answers",
          },
        ],
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: { type: "array", items: ref("MessageRequest"), minItems: 1, maxItems: 500 },
            },
          },
        },
        responses: {
          "200": json(
            {
              type: "object",
              properties: {
                results: {
                  type: "array",
                  items: {
                    oneOf: [
                      {
                        allOf: [ref("Accepted"), { type: "object", properties: { status: { enum: [200, 202] } } }],
                      },
                      ref("Problem"),
                    ],
                  },
                },
              },
            },
            "One result per message, in order; Retry-After when any of them is a 503",
          ),
          "413": problem("Request document too large"),
          ...errors,
        },
      },
    },
    "/v1/messages/raw": {
      post: {
        tags: ["messages"],
        summary: "Submit an RFC 5322 message, streamed",
        parameters: [
          query("from", "Envelope sender (empty = <>); or the X-Envelope-From header"),
          query("to", "Recipient, repeatable; or X-Envelope-To (comma-separated)"),
          query("zone", "Sending zone"),
          query("sendAt", "Earliest delivery (ISO 8601)", { type: "string", format: "date-time" }),
          query("upload", "Submit this upload (POST /v1/uploads) instead of a request body"),
        ],
        requestBody: { required: false, content: { "message/rfc822": { schema: { type: "string" } } } },
        responses: { "202": json(ref("Accepted"), "Queued"), "413": problem("Message too large"), ...errors },
      },
    },
    "/v1/uploads": {
      post: {
        tags: ["messages"],
        summary: "Make an upload URL for a message larger than one request may carry",
        description:
          "PUT the message (or a JSON request document) to `url` with `headers`, then submit it by id: " +
          'POST /v1/messages/raw?upload=<id> or POST /v1/messages with { "upload": "<id>" }.',
        requestBody: {
          required: false,
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: {
                  contentType: { enum: ["message/rfc822", "application/json"] },
                  size: { type: "integer", description: "Exact size; the PUT must have this length" },
                },
              },
            },
          },
        },
        responses: {
          "201": json(
            {
              type: "object",
              properties: {
                id: { type: "string" },
                method: { const: "PUT" },
                url: { type: "string" },
                headers: { type: "object" },
                expiresAt: { type: "string", format: "date-time" },
              },
            },
            "Where to PUT the message",
          ),
          "413": problem("Announced size too large"),
          ...errors,
        },
      },
    },
    "/v1/uploads/{id}": {
      parameters: [idParam("id", "Upload id")],
      put: {
        tags: ["messages"],
        summary: "Receive an upload (URLs this API serves itself; authorised by the signed query, not a key)",
        security: [],
        requestBody: { required: true, content: { "message/rfc822": { schema: { type: "string" } } } },
        responses: {
          "200": { description: "Stored" },
          "401": problem("Bad or expired signature"),
          "413": problem("Larger than announced or allowed"),
        },
      },
    },
    "/v1/messages/{id}": {
      parameters: [idParam("id", "Message id")],
      get: {
        tags: ["messages"],
        summary: "Status of a message: each delivery with its attempt timeline",
        responses: { "200": json(ref("MessageStatus"), "The message"), "404": problem("Unknown id"), ...errors },
      },
      delete: {
        tags: ["messages"],
        summary: "Cancel every delivery not yet final",
        responses: {
          "200": json(
            { type: "object", properties: { id: { type: "string" }, cancelled: { type: "integer" } } },
            "Done",
          ),
          "404": problem("Unknown id"),
          "409": problem("Nothing left to cancel"),
          ...errors,
        },
      },
    },
    "/v1/suspensions": {
      get: {
        tags: ["operations"],
        summary: "Local addresses suspended for a destination",
        parameters: [query("destination", "Only this destination")],
        responses: {
          "200": json(
            { type: "object", properties: { suspensions: { type: "array", items: ref("Suspension") } } },
            "Current suspensions",
          ),
          ...operator,
        },
      },
    },
    "/v1/suspensions/{destination}/{localAddress}": {
      parameters: [idParam("destination", "Destination key"), idParam("localAddress", "Local address")],
      delete: {
        tags: ["operations"],
        summary: "Lift a suspension (audited)",
        responses: { "200": json({ type: "object" }, "Lifted"), ...operator },
      },
    },
    "/v1/tls-reports": {
      get: {
        tags: ["operations"],
        summary: "A day's TLS-RPT aggregate reports (RFC 8460) and each destination's rua, without sending",
        parameters: [query("day", "UTC day, YYYY-MM-DD (default: yesterday)")],
        responses: {
          "200": json(
            { type: "object", properties: { day: { type: "string" }, reports: { type: "array" } } },
            "Reports",
          ),
          ...operator,
        },
      },
    },
    "/v1/tls-reports/send": {
      post: {
        tags: ["operations"],
        summary: "Send a day's TLS-RPT reports now, by mail and/or HTTPS as `tls.reports.via` allows (audited)",
        parameters: [query("day", "UTC day, YYYY-MM-DD (default: yesterday)")],
        responses: {
          "200": json({ type: "object", properties: { day: { type: "string" }, reports: { type: "array" } } }, "Sent"),
          ...operator,
        },
      },
    },
    "/v1/queue/deliveries": {
      get: {
        tags: ["queue"],
        summary: "List deliveries (mailq), oldest first, paged",
        parameters: [
          query("zone", "Zone"),
          query("domain", "Recipient domain"),
          query("state", "Comma-separated: queued, deferred, held, delivered, bounced, cancelled (default: open)"),
          query("olderThan", 'Received longer ago than this, e.g. "2h"'),
          query("newerThan", 'Received within this, e.g. "30m"'),
          query("reply", "Substring of the last reply, case-insensitive"),
          query("messageId", "Deliveries of one message"),
          query("ids", "Comma-separated delivery or message ids"),
          query("limit", "Page size (1-500, default 50)", { type: "integer" }),
          query("cursor", "nextCursor of the previous page"),
        ],
        responses: {
          "200": json(
            {
              type: "object",
              properties: {
                deliveries: { type: "array", items: ref("QueueDelivery") },
                nextCursor: { type: "string" },
              },
            },
            "A page",
          ),
          ...operator,
        },
      },
    },
    "/v1/queue/counts": {
      get: {
        tags: ["queue"],
        summary: "Open deliveries by zone and state, with attempt counters of this host",
        responses: { "200": json(ref("QueueCounts"), "Counts"), ...operator },
      },
    },
    "/v1/queue/diagnose": {
      get: {
        tags: ["queue"],
        summary: "Why is this queue slow: limits in force, the rule that set each, suspensions, warm-up, last replies",
        parameters: [
          query("zone", "Zone (default: default)"),
          query("domain", "Recipient domain"),
          query("destination", "Destination key (an MX provider under mxRollup)"),
        ],
        responses: { "200": json({ type: "object" }, "Diagnosis with `findings` sentences"), ...operator },
      },
    },
    "/v1/queue/retry": {
      post: {
        tags: ["queue"],
        summary: "Retry now: matching queued/deferred deliveries are due at once (postqueue -i / -f)",
        requestBody: filterBody(),
        responses: { "200": affected, ...operator },
      },
    },
    "/v1/queue/hold": {
      post: {
        tags: ["queue"],
        summary: "Put matching open deliveries on hold: never attempted until released (postsuper -h)",
        requestBody: filterBody(),
        responses: { "200": affected, ...operator },
      },
    },
    "/v1/queue/release": {
      post: {
        tags: ["queue"],
        summary: "Release held deliveries, due at once (postsuper -H)",
        requestBody: filterBody(),
        responses: { "200": affected, ...operator },
      },
    },
    "/v1/queue/delete": {
      post: {
        tags: ["queue"],
        summary: "Delete matching open deliveries: bounce (with a DSN to the sender) or drop silently (postsuper -d)",
        requestBody: filterBody({ mode: { enum: ["bounce", "drop"] }, reason: { type: "string", maxLength: 300 } }, [
          "mode",
        ]),
        responses: { "200": affected, ...operator },
      },
    },
    "/v1/queue/flush": {
      post: {
        tags: ["queue"],
        summary: "Flush a domain: all its open deliveries due now (postqueue -s)",
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: { domain: { type: "string" }, zone: { type: "string" } },
                required: ["domain"],
                additionalProperties: false,
              },
            },
          },
        },
        responses: { "200": affected, ...operator },
      },
    },
    "/v1/warmup": {
      get: {
        tags: ["operations"],
        summary: "Warm-up progress of every pool address with a schedule",
        responses: { "200": json({ type: "object" }, "Addresses"), ...operator },
      },
    },
    "/v1/config": {
      get: {
        tags: ["operations"],
        summary: "The running config, secrets hidden",
        responses: { "200": json({ type: "object" }, "Config"), ...operator },
      },
    },
    "/v1/audit": {
      get: {
        tags: ["operations"],
        summary: "Audit trail of operator actions, newest first",
        parameters: [query("limit", "Page size (1-500)", { type: "integer" }), query("cursor", "nextCursor")],
        responses: {
          "200": json(
            {
              type: "object",
              properties: { entries: { type: "array", items: ref("AuditEntry") }, nextCursor: { type: "string" } },
            },
            "A page",
          ),
          ...operator,
        },
      },
    },
    "/admin": {
      get: {
        tags: ["operations"],
        summary: "Web admin (HTML): the login form, or the app for a signed-in admin",
        security: [],
        responses: { "200": { description: "HTML page", content: { "text/html": {} } } },
      },
    },
    "/admin/login": {
      post: {
        tags: ["operations"],
        summary: "Admin login (form: user, password); sets the HttpOnly SameSite=Strict session cookie",
        security: [],
        requestBody: {
          required: true,
          content: {
            "application/x-www-form-urlencoded": {
              schema: { type: "object", properties: { user: { type: "string" }, password: { type: "string" } } },
            },
          },
        },
        responses: { "303": { description: "Signed in" }, "401": { description: "Wrong user or password" } },
      },
    },
    "/admin/logout": {
      post: {
        tags: ["operations"],
        summary: "Admin logout (form with the CSRF token)",
        security: [{ adminSession: [] }],
        responses: { "303": { description: "Signed out" } },
      },
    },
    "/admin/assets/{file}": {
      parameters: [idParam("file", "app.js or app.css")],
      get: {
        tags: ["operations"],
        summary: "Static script and style of the web admin",
        security: [],
        responses: { "200": { description: "The file" }, "404": { description: "No such file" } },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: "http", scheme: "bearer", description: "An API key (`zonerelay new-api-key`)" },
      adminSession: { type: "apiKey", in: "cookie", name: "zr_admin" },
    },
    schemas: {
      Problem: {
        type: "object",
        properties: {
          type: { type: "string", examples: ["urn:zonerelay:problem:not-found"] },
          title: { type: "string" },
          status: { type: "integer" },
          detail: { type: "string" },
          field: { type: "string" },
        },
        required: ["type", "title", "status", "detail"],
      },
      MessageRequest: {
        type: "object",
        properties: {
          from: address,
          to: { oneOf: [address, { type: "array", items: address }] },
          cc: { oneOf: [address, { type: "array", items: address }] },
          bcc: { oneOf: [address, { type: "array", items: address }] },
          replyTo: { oneOf: [address, { type: "array", items: address }] },
          subject: { type: "string" },
          text: { type: "string" },
          html: { type: "string" },
          attachments: {
            type: "array",
            items: {
              type: "object",
              properties: {
                filename: { type: "string" },
                content: { type: "string", contentEncoding: "base64" },
                contentType: { type: "string" },
                cid: { type: "string" },
              },
            },
          },
          headers: { type: "object", additionalProperties: { type: "string" } },
          zone: { type: "string" },
          sendAt: { type: "string", format: "date-time" },
        },
        required: ["from"],
      },
      Accepted: {
        type: "object",
        properties: {
          id: { type: "string" },
          messageId: { type: "string" },
          deliveries: {
            type: "array",
            items: {
              type: "object",
              properties: { id: { type: "string" }, recipient: { type: "string" }, zone: { type: "string" } },
            },
          },
        },
      },
      Attempt: {
        type: "object",
        properties: {
          at: { type: "string", format: "date-time" },
          durationMs: { type: "integer" },
          outcome: { enum: ["delivered", "deferred", "bounced"] },
          response: { type: "string" },
          category: { type: "string" },
          localAddress: { type: "string" },
          mx: { type: "string" },
          tls: { type: "boolean" },
          tlsPolicy: { enum: ["opportunistic", "require-tls", "mta-sts", "mta-sts-testing", "dane"] },
          tlsVersion: { type: "string" },
          tlsCipher: { type: "string" },
        },
      },
      MessageStatus: {
        type: "object",
        properties: {
          id: { type: "string" },
          messageId: { type: "string" },
          from: { type: "string" },
          subject: { type: "string" },
          size: { type: "integer" },
          receivedAt: { type: "string", format: "date-time" },
          source: { type: "object" },
          deliveries: {
            type: "array",
            items: {
              type: "object",
              properties: {
                id: { type: "string" },
                recipient: { type: "string" },
                zone: { type: "string" },
                state: { enum: ["queued", "deferred", "delivered", "bounced", "cancelled"] },
                attempts: { type: "integer" },
                nextAttemptAt: { type: "string", format: "date-time" },
                lastResponse: { type: "string" },
                history: { type: "array", items: ref("Attempt") },
              },
            },
          },
        },
      },
      Suspension: {
        type: "object",
        properties: {
          localAddress: { type: "string" },
          destination: { type: "string" },
          reason: { type: "string" },
          expiresAt: { type: "string", format: "date-time" },
        },
      },
      DeliveryFilter: {
        type: "object",
        description: "Every criterion must match. A mutation needs at least one, or all: true.",
        properties: {
          ids: { type: "array", items: { type: "string" }, description: "Delivery or message ids" },
          messageId: { type: "string" },
          zone: { type: "string" },
          domain: { type: "string" },
          state: {
            type: "array",
            items: { enum: ["queued", "deferred", "held", "delivered", "bounced", "cancelled"] },
          },
          olderThan: { type: "string", examples: ["2h"] },
          newerThan: { type: "string", examples: ["30m"] },
          reply: { type: "string" },
          all: { type: "boolean" },
        },
      },
      QueueDelivery: {
        type: "object",
        properties: {
          id: { type: "string" },
          messageId: { type: "string" },
          zone: { type: "string" },
          recipient: { type: "string" },
          domain: { type: "string" },
          state: { enum: ["queued", "deferred", "held", "delivered", "bounced", "cancelled"] },
          leased: { type: "boolean" },
          attempts: { type: "integer" },
          nextAttemptAt: { type: "string", format: "date-time" },
          lastResponse: { type: "string" },
          from: { type: "string" },
          subject: { type: "string" },
          size: { type: "integer" },
          receivedAt: { type: "string", format: "date-time" },
          updatedAt: { type: "string", format: "date-time" },
        },
      },
      QueueCounts: {
        type: "object",
        properties: {
          at: { type: "string", format: "date-time" },
          zones: {
            type: "array",
            items: {
              type: "object",
              properties: {
                zone: { type: "string" },
                queued: { type: "integer" },
                deferred: { type: "integer" },
                held: { type: "integer" },
                attempts: {
                  type: "object",
                  properties: {
                    delivered: { type: "integer" },
                    deferred: { type: "integer" },
                    bounced: { type: "integer" },
                  },
                },
              },
            },
          },
        },
      },
      AuditEntry: {
        type: "object",
        properties: {
          id: { type: "string" },
          at: { type: "string", format: "date-time" },
          actor: { type: "string", examples: ["admin:alice", "key:ops"] },
          action: { type: "string", examples: ["queue.retry"] },
          target: { type: "object" },
          affected: { type: "integer" },
          detail: { type: "string" },
        },
      },
    },
  },
} as const;
