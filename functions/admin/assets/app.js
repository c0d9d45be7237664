// ZoneRelay web admin: plain JavaScript, no build step. Hash routes (#/overview, #/deferred, …) render into <main>
// from the same /v1 API the CLI uses. Every value from the queue (replies, addresses) is set as text, never as HTML.

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const main = document.getElementById("main");
const statusBox = document.getElementById("status");
const alertBox = document.getElementById("alert");
let timer;

/** Builds an element: h("a", { href: "#" }, "text", child). Strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, options = {}) {
  const res = await fetch(path, {
    method: options.method ?? "GET",
    credentials: "same-origin",
    headers: { "x-csrf-token": csrf, ...(options.body ? { "content-type": "application/json" } : {}) },
    ...(options.body ? { body: JSON.stringify(options.body) } : {}),
  });
  if (res.status === 401) {
    location.href = "/admin";
    throw new Error("signed out");
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail ?? `HTTP ${res.status}`);
  return body;
}

function say(text) {
  statusBox.textContent = text;
}

function fail(err) {
  alertBox.hidden = false;
  alertBox.textContent = err.message;
}

const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const params = () => new URLSearchParams(location.hash.split("?")[1] ?? "");

function table(caption, columns, rows) {
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        // A column is a title, or { text, num } for a right-aligned numeric one.
        columns.map((c) =>
          typeof c === "string" ? h("th", { scope: "col" }, c) : h("th", { scope: "col", class: "num" }, c.text),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      rows.length ? rows : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "Nothing here.")),
    ),
  );
}

function page(title, ...content) {
  main.replaceChildren(h("h1", { id: "page-title", tabindex: -1 }, title), ...content.filter(Boolean));
}

// --- Overview: per-zone depth and rates, refreshed every 5 s -------------------------------------------------
let previous;
async function overview() {
  const data = await api("/v1/queue/counts");
  const now = Date.parse(data.at);
  const rate = (z, outcome) => {
    const before = previous?.zones.find((p) => p.zone === z.zone)?.attempts?.[outcome];
    const minutes = previous ? (now - Date.parse(previous.at)) / 60_000 : 0;
    if (before === undefined || !z.attempts || minutes <= 0) return "–";
    return ((z.attempts[outcome] - before) / minutes).toFixed(1);
  };
  const rows = data.zones.map((z) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, z.zone),
      h("td", { class: "num" }, z.queued),
      h(
        "td",
        { class: "num" },
        h("a", { href: `#/deferred?zone=${encodeURIComponent(z.zone)}&state=deferred` }, z.deferred),
      ),
      h("td", { class: "num" }, z.held),
      h("td", { class: "num" }, rate(z, "delivered")),
      h("td", { class: "num" }, rate(z, "deferred")),
      h("td", { class: "num" }, rate(z, "bounced")),
      h("td", {}, h("a", { href: `#/diagnose?zone=${encodeURIComponent(z.zone)}` }, "Why slow?")),
    ),
  );
  page(
    "Overview",
    table(
      "Open deliveries and attempts per minute, by zone",
      [
        "Zone",
        ...["Queued", "Deferred", "Held", "Delivered/min", "Deferred/min", "Bounced/min"].map((text) => ({
          text,
          num: true,
        })),
        "",
      ],
      rows,
    ),
    h("p", { class: "muted" }, "Rates come from this host's counters; they appear after the second refresh."),
  );
  previous = data;
  say(`Updated ${new Date(now).toLocaleTimeString()}`);
}

// --- Queue: deliveries with their last reply, actions per row ------------------------------------------------
async function queueList() {
  const p = params();
  const state = p.get("state") ?? "deferred";
  const q = new URLSearchParams({ state, limit: "50" });
  for (const k of ["zone", "domain", "reply", "cursor"]) if (p.get(k)) q.set(k, p.get(k));
  const data = await api(`/v1/queue/deliveries?${q}`);
  const act =
    (action, d, body = {}) =>
    async () => {
      try {
        const r = await api(`/v1/queue/${action}`, { method: "POST", body: { ids: [d.id], ...body } });
        say(`${action}: ${r.affected} changed (${d.recipient})`);
        await route();
      } catch (err) {
        fail(err);
      }
    };
  const rows = data.deliveries.map((d) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/message/${encodeURIComponent(d.messageId)}` }, d.recipient)),
      h("td", {}, d.zone),
      h("td", {}, h("span", { class: `state ${d.state}` }, d.state)),
      h("td", { class: "num" }, d.attempts),
      h("td", {}, fmtTime(d.nextAttemptAt)),
      h("td", { class: "reply" }, d.lastResponse ?? ""),
      h(
        "td",
        { class: "actions" },
        d.state === "held"
          ? h(
              "button",
              { type: "button", onclick: act("release", d), "aria-label": `Release ${d.recipient}` },
              "Release",
            )
          : [
              h("button", { type: "button", onclick: act("retry", d), "aria-label": `Retry ${d.recipient}` }, "Retry"),
              h("button", { type: "button", onclick: act("hold", d), "aria-label": `Hold ${d.recipient}` }, "Hold"),
            ],
        h(
          "button",
          {
            type: "button",
            class: "danger",
            "aria-label": `Delete ${d.recipient} with a bounce`,
            onclick: () => {
              if (confirm(`Bounce the delivery to ${d.recipient}? The sender gets a DSN.`))
                act("delete", d, { mode: "bounce" })();
            },
          },
          "Delete",
        ),
      ),
    ),
  );
  const field = (name, label, value, attrs = {}) => [
    h("label", { for: `f-${name}` }, label),
    h("input", { id: `f-${name}`, name, value: value ?? "", ...attrs }),
  ];
  const stateSelect = h(
    "select",
    { id: "f-state", name: "state" },
    ["deferred", "queued", "held", "queued,deferred,held", "delivered", "bounced", "cancelled"].map((s) =>
      h("option", { value: s, selected: s === state }, s === "queued,deferred,held" ? "all open" : s),
    ),
  );
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      onsubmit: (e) => {
        e.preventDefault();
        const f = new URLSearchParams();
        for (const [k, v] of new FormData(e.target)) if (v) f.set(k, v);
        location.hash = `#/deferred?${f}`;
      },
    },
    field("zone", "Zone", p.get("zone")),
    field("domain", "Domain", p.get("domain")),
    field("reply", "Reply contains", p.get("reply")),
    h("label", { for: "f-state" }, "State"),
    stateSelect,
    h("button", { type: "submit" }, "Filter"),
  );
  const next = data.nextCursor
    ? h(
        "a",
        { href: `#/deferred?${new URLSearchParams({ ...Object.fromEntries(p), cursor: data.nextCursor })}` },
        "Next page",
      )
    : null;
  page(
    "Queue",
    form,
    table(
      `Deliveries in state ${state}`,
      ["Recipient", "Zone", "State", "Attempts", "Next attempt", "Last reply", "Actions"],
      rows,
    ),
    next,
  );
}

// --- One message: every delivery with its attempt timeline -----------------------------------------------------
async function message(id) {
  const m = await api(`/v1/messages/${encodeURIComponent(id)}`);
  const sections = m.deliveries.map((d) =>
    h(
      "section",
      { "aria-label": `Delivery to ${d.recipient}` },
      h("h2", {}, `${d.recipient} — `, h("span", { class: `state ${d.state}` }, d.state)),
      h(
        "p",
        { class: "muted" },
        `Zone ${d.zone}, ${d.attempts} attempts${d.state === "queued" || d.state === "deferred" ? `, next ${fmtTime(d.nextAttemptAt)}` : ""}, id ${d.id}`,
      ),
      table(
        `Attempts to ${d.recipient}`,
        ["Time", "Outcome", "Local IP", "MX", "TLS", "Reply", "Duration"],
        d.history.map((a) =>
          h(
            "tr",
            {},
            h("td", {}, fmtTime(a.at)),
            h("td", {}, a.outcome),
            h("td", {}, a.localAddress ?? ""),
            h("td", {}, a.mx ?? ""),
            h("td", {}, tlsCell(a)),
            h("td", { class: "reply" }, a.response),
            h("td", { class: "num" }, `${a.durationMs} ms`),
          ),
        ),
      ),
    ),
  );
  // TLS of an attempt: yes/no, then the policy it was decided under and the negotiated protocol and cipher.
  function tlsCell(a) {
    const used = a.tls === undefined ? "" : a.tls ? "yes" : "no";
    const detail = [a.tlsPolicy, a.tlsVersion, a.tlsCipher].filter(Boolean).join(", ");
    return detail ? `${used} (${detail})`.trim() : used;
  }
  page(
    `Message ${m.subject ? `“${m.subject}”` : m.id}`,
    h("p", {}, `From ${m.from || "<>"}, received ${fmtTime(m.receivedAt)}, ${m.size} bytes, Message-ID ${m.messageId}`),
    ...sections,
  );
}

// --- Why is this queue slow -----------------------------------------------------------------------------------
async function diagnose() {
  const p = params();
  const zone = p.get("zone") ?? "default";
  const domain = p.get("domain") ?? "";
  const q = new URLSearchParams({ zone, ...(domain ? { domain } : {}) });
  const d = await api(`/v1/queue/diagnose?${q}`);
  const limit = (label, v) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, label),
      h("td", {}, v?.limit ?? v?.rate ?? "none"),
      h("td", {}, v?.rule ?? ""),
    );
  const rows = [
    limit("Zone connections", d.zone.connections),
    limit("Zone rate", d.zone.throttling),
    ...(d.destination
      ? [
          limit(`Connections to ${d.destination.key}`, d.destination.maxConnections),
          h(
            "tr",
            {},
            h("th", { scope: "row" }, "Open connections now"),
            h("td", {}, d.destination.openConnections ?? "?"),
            h("td", {}, ""),
          ),
          limit(`Rate to ${d.destination.key}`, d.destination.throttling),
          limit("Rate per local IP", d.destination.ipThrottling),
        ]
      : []),
  ];
  page(
    `Why is ${zone} slow?`,
    h(
      "form",
      {
        class: "filters",
        onsubmit: (e) => {
          e.preventDefault();
          location.hash = `#/diagnose?${new URLSearchParams(new FormData(e.target))}`;
        },
      },
      h("label", { for: "d-zone" }, "Zone"),
      h("input", { id: "d-zone", name: "zone", value: zone }),
      h("label", { for: "d-domain" }, "Domain"),
      h("input", { id: "d-domain", name: "domain", value: domain }),
      h("button", { type: "submit" }, "Diagnose"),
    ),
    h("h2", {}, "Findings"),
    h(
      "ul",
      { class: "findings" },
      d.findings.map((f) => h("li", {}, f)),
    ),
    table("Limits in force and the rule that set each", ["Limit", "Value", "Rule"], rows),
    table(
      "Suspensions",
      ["Local IP", "Destination", "Reason", "Until"],
      d.suspensions.map((s) =>
        h(
          "tr",
          {},
          h("td", {}, s.localAddress),
          h("td", {}, s.destination),
          h("td", {}, s.reason),
          h("td", {}, fmtTime(s.expiresAt)),
        ),
      ),
    ),
    warmupTable(d.warmup),
    table(
      "Last replies",
      ["Recipient", "State", "Attempts", "Last reply"],
      d.lastReplies.map((r) =>
        h(
          "tr",
          {},
          h("td", {}, r.recipient),
          h("td", {}, r.state),
          h("td", { class: "num" }, r.attempts),
          h("td", { class: "reply" }, r.lastResponse ?? ""),
        ),
      ),
    ),
  );
}

function warmupTable(list) {
  return table(
    "Warm-up",
    ["Local IP", "Since", "Day", "Cap/day", "Sent today", "Cap/hour", "Sent this hour"],
    list.map((w) =>
      h(
        "tr",
        {},
        h("td", {}, w.address),
        h("td", {}, w.since),
        h("td", { class: "num" }, w.warm ? "warm" : w.day),
        h("td", { class: "num" }, w.perDay ?? "–"),
        h("td", { class: "num" }, w.sentToday),
        h("td", { class: "num" }, w.perHour ?? "–"),
        h("td", { class: "num" }, w.sentThisHour),
      ),
    ),
  );
}

async function suspensions() {
  const { suspensions: list } = await api("/v1/suspensions");
  const lift = (s) => async () => {
    try {
      await api(`/v1/suspensions/${encodeURIComponent(s.destination)}/${encodeURIComponent(s.localAddress)}`, {
        method: "DELETE",
      });
      say(`Lifted ${s.localAddress} for ${s.destination}`);
      await route();
    } catch (err) {
      fail(err);
    }
  };
  page(
    "Suspensions",
    table(
      "Local addresses resting from a destination",
      ["Local IP", "Destination", "Reason", "Until", ""],
      list.map((s) =>
        h(
          "tr",
          {},
          h("td", {}, s.localAddress),
          h("td", {}, s.destination),
          h("td", { class: "reply" }, s.reason),
          h("td", {}, fmtTime(s.expiresAt)),
          h(
            "td",
            {},
            h(
              "button",
              { type: "button", onclick: lift(s), "aria-label": `Lift ${s.localAddress} for ${s.destination}` },
              "Lift",
            ),
          ),
        ),
      ),
    ),
  );
}

async function warmup() {
  const { addresses } = await api("/v1/warmup");
  page("Warm-up", warmupTable(addresses));
}

async function audit() {
  const { entries } = await api("/v1/audit?limit=100");
  page(
    "Audit",
    table(
      "Operator actions, newest first",
      ["Time", "Who", "What", "Target", "Changed"],
      entries.map((e) =>
        h(
          "tr",
          {},
          h("td", {}, fmtTime(e.at)),
          h("td", {}, e.actor),
          h("td", {}, e.action),
          h("td", { class: "reply" }, JSON.stringify(e.target)),
          h("td", { class: "num" }, e.affected),
        ),
      ),
    ),
  );
}

async function config() {
  const cfg = await api("/v1/config");
  page(
    "Config",
    h("p", { class: "muted" }, "Read-only; secrets are hidden."),
    h("pre", { tabindex: 0, "aria-label": "Running configuration" }, JSON.stringify(cfg, null, 2)),
  );
}

const ROUTES = { overview, deferred: queueList, diagnose, suspensions, warmup, audit, config };

async function route() {
  clearInterval(timer);
  alertBox.hidden = true;
  const [path] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, arg] = path.split("/");
  const key = name && (ROUTES[name] || name === "message") ? name : "overview";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.route === key || (key === "message" && a.dataset.route === "deferred"))
      a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    if (key === "message") await message(decodeURIComponent(arg ?? ""));
    else await ROUTES[key]();
    if (key === "overview") timer = setInterval(() => overview().catch(fail), 5000);
  } catch (err) {
    fail(err);
  }
}

let lastHash;
window.addEventListener("hashchange", async () => {
  await route();
  // A new page: move focus to its heading so keyboard and screen-reader users start there.
  if (location.hash.split("?")[0] !== lastHash) document.getElementById("page-title")?.focus?.();
  lastHash = location.hash.split("?")[0];
});
route();
