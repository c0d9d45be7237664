// HTML of the web admin: the login form and the app shell that loads /admin/assets/app.js. No inline script or
// style, so the Content-Security-Policy can forbid both.

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);

/** No inline code, no framing, forms only to ourselves, nothing from the network but this origin. */
export const ADMIN_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

function layout(title: string, body: string, head = ""): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · ZoneRelay</title>
<link rel="stylesheet" href="/admin/assets/app.css">
<link rel="icon" href="data:,">
${head}
</head>
<body>
${body}
</body>
</html>`;
}

export function loginPage(options: { hostname: string; error?: string; user?: string }): string {
  const error = options.error ? `<p class="error" role="alert" id="login-error">${escapeHtml(options.error)}</p>` : "";
  return layout(
    "Sign in",
    `<main class="login" aria-labelledby="login-title">
  <h1 id="login-title">ZoneRelay admin</h1>
  <p class="muted">${escapeHtml(options.hostname)}</p>
  ${error}
  <form method="post" action="/admin/login"${options.error ? ' aria-describedby="login-error"' : ""}>
    <label for="user">User</label>
    <input id="user" name="user" autocomplete="username" required autofocus value="${escapeHtml(options.user ?? "")}">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required>
    <button type="submit">Sign in</button>
  </form>
</main>`,
  );
}

export function appPage(options: { hostname: string; user: string; csrf: string }): string {
  const nav = [
    ["overview", "Overview"],
    ["deferred", "Queue"],
    ["diagnose", "Why slow?"],
    ["suspensions", "Suspensions"],
    ["warmup", "Warm-up"],
    ["audit", "Audit"],
    ["config", "Config"],
  ]
    .map(([id, label]) => `<li><a href="#/${id}" data-route="${id}">${label}</a></li>`)
    .join("\n      ");
  return layout(
    "Admin",
    `<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">ZoneRelay <span class="muted">${escapeHtml(options.hostname)}</span></span>
  <nav aria-label="Sections">
    <ul>
      ${nav}
    </ul>
  </nav>
  <form method="post" action="/admin/logout" class="logout">
    <input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
    <span class="muted">${escapeHtml(options.user)}</span>
    <button type="submit" class="link">Sign out</button>
  </form>
</header>
<div id="status" role="status" aria-live="polite" class="status"></div>
<div id="alert" role="alert" class="error" hidden></div>
<main id="main" tabindex="-1"></main>
<script type="module" src="/admin/assets/app.js"></script>`,
    `<meta name="csrf-token" content="${escapeHtml(options.csrf)}">`,
  );
}
