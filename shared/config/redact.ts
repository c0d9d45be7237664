// The config without its secrets, for every place that shows it (`zonerelay check-config`, GET /v1/config):
// passwords, hashes, keys, tokens, HTTP headers and credentials inside URLs become "(hidden)".

const SECRET_KEY = /pass|secret|hash|privatekey|token|authorization|^key$/i;

/** `scheme://user:password@host` → `scheme://(hidden)@host` (MongoDB, Redis and other connection URLs). */
export function hideUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s]+@/gi, "$1(hidden)@");
}

export function redact(value: unknown, key = ""): unknown {
  if (typeof value === "string") {
    if (SECRET_KEY.test(key)) return "(hidden)";
    return hideUrlCredentials(value);
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, key));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        // Extra HTTP headers of a delivery route carry bearer tokens more often than not.
        k === "headers" && v && typeof v === "object" && !Array.isArray(v)
          ? Object.fromEntries(Object.keys(v).map((h) => [h, "(hidden)"]))
          : redact(v, k),
      ]),
    );
  }
  return value;
}
