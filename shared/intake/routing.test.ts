import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.ts";
import { parseHeaderBlock } from "../mail/headers.ts";
import { createRouter } from "./routing.ts";

const config = parseConfig({
  zones: {
    default: {},
    trusted: {},
    tenant: { routingHeaders: { "X-User-Id": "123" } },
    newsletters: { senderDomains: ["news.example.com", "*.bulk.example.com"] },
    microsoft: { recipientDomains: ["outlook.com", "hotmail.com", "*.onmicrosoft.com"] },
  },
});
const route = createRouter(config);
const headers = (block: string) => parseHeaderBlock(block);
const base = { headers: headers("Subject: hi\r\n"), trustRoutingHeader: false, from: "app@example.com" };

describe("routing precedence", () => {
  it("uses the explicit zone (API key, request, interface) above everything", () => {
    expect(
      route(
        { ...base, explicitZone: "trusted", headers: headers("X-Sending-Zone: tenant\r\n"), trustRoutingHeader: true },
        "outlook.com",
      ),
    ).toBe("trusted");
  });

  it("honours X-Sending-Zone only from trusted interfaces, and only for a zone that exists", () => {
    const h = headers("X-Sending-Zone: trusted\r\nX-User-Id: 123\r\n");
    expect(route({ ...base, headers: h, trustRoutingHeader: true }, "outlook.com")).toBe("trusted");
    expect(route({ ...base, headers: h, trustRoutingHeader: false }, "outlook.com")).toBe("tenant");
    expect(route({ ...base, headers: headers("X-Sending-Zone: nope\r\n"), trustRoutingHeader: true }, "x.test")).toBe(
      "default",
    );
  });

  it("then routingHeaders, then the sender's domain, then the recipient's domain, then default", () => {
    const tenant = { ...base, headers: headers("x-user-id: 123\r\n"), from: "a@news.example.com" };
    expect(route(tenant, "outlook.com")).toBe("tenant");
    expect(route({ ...base, from: "a@news.example.com" }, "outlook.com")).toBe("newsletters");
    expect(route({ ...base, from: "a@eu.bulk.example.com" }, "outlook.com")).toBe("newsletters");
    expect(route(base, "Outlook.com")).toBe("microsoft");
    expect(route(base, "contoso.onmicrosoft.com")).toBe("microsoft");
    expect(route(base, "example.org")).toBe("default");
    expect(route({ ...base, from: "" }, "example.org")).toBe("default");
  });
});
