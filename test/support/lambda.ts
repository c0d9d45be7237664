// Invokes a Lambda handler in-process the way a function URL does: an API Gateway v2 (payload format 2.0) event
// per request, with AWS's request size limit applied before the handler runs.
import { randomUUID } from "node:crypto";
import type { LambdaHandler } from "../../functions/lambda.ts";

/**
 * Function URLs and API Gateway refuse an invocation payload above 6 MB (6,291,556 bytes) without invoking; a
 * binary body counts base64-encoded, so a message/rfc822 body is refused from about 4.5 MB.
 */
export const LAMBDA_PAYLOAD_LIMIT = 6_291_556;

export interface UrlResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  json<T = unknown>(): T;
}

/** Content types a function URL passes as text; every other body arrives base64-encoded (isBase64Encoded). */
const TEXTUAL = /^(text\/|application\/(json|problem\+json|xml|x-www-form-urlencoded))/;

/** One request to the function URL `https://<id>.lambda-url.<region>.on.aws` as the given client address. */
export async function invokeUrl(
  handler: LambdaHandler,
  request: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
  sourceIp = "203.0.113.7",
): Promise<UrlResponse> {
  const url = new URL(request.path, "https://fn1234.lambda-url.us-east-1.on.aws");
  const headers: Record<string, string> = { host: url.host, ...lower(request.headers ?? {}) };
  const raw = request.body === undefined ? undefined : Buffer.from(request.body);
  // Function URLs pass text bodies as they are and anything else base64-encoded.
  const binary = raw !== undefined && !TEXTUAL.test(headers["content-type"] ?? "");
  const encoded = raw === undefined ? null : raw.toString(binary ? "base64" : "utf8");
  if (encoded !== null && Buffer.byteLength(encoded) > LAMBDA_PAYLOAD_LIMIT) {
    return response(
      413,
      { "content-type": "application/json" },
      '{"Message":"Request must be smaller than 6291556 bytes for the InvokeFunction operation"}',
    );
  }
  if (raw) headers["content-length"] = String(raw.length);
  const now = Date.now();
  const event = {
    version: "2.0",
    routeKey: "$default",
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: url.search ? Object.fromEntries(url.searchParams) : undefined,
    requestContext: {
      accountId: "anonymous",
      apiId: "fn1234",
      domainName: url.host,
      domainPrefix: "fn1234",
      http: { method: request.method, path: url.pathname, protocol: "HTTP/1.1", sourceIp, userAgent: "test" },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    body: encoded,
    isBase64Encoded: binary,
  };
  const result = await handler(event as never, { awsRequestId: event.requestContext.requestId } as never);
  const body = result.body ?? "";
  return response(
    result.statusCode,
    Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)])),
    result.isBase64Encoded ? Buffer.from(body, "base64").toString("utf8") : body,
  );
}

function response(status: number, headers: Record<string, string>, text: string): UrlResponse {
  return { status, headers, text, json: <T>() => JSON.parse(text) as T };
}

const lower = (h: Record<string, string>) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
