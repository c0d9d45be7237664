import { describe, expect, it } from "vitest";
import { parseConfig } from "../../shared/config/load.ts";
import { destinationOf, providerOf } from "./destination.ts";

describe("destination", () => {
  it("finds the provider of an MX host", () => {
    expect(providerOf("alt1.gmail-smtp-in.l.google.com")).toBe("google.com");
    expect(providerOf("example-com.mail.protection.outlook.com.")).toBe("outlook.com");
    expect(providerOf("mx1.mail.example.co.uk")).toBe("example.co.uk");
    expect(providerOf("localhost")).toBeUndefined();
  });

  it("rolls domains hosted by one provider into one budget, unless a domain has its own settings", () => {
    const config = parseConfig({
      domainConfig: {
        "google.com": { maxConnections: 20 },
        "vip.test": { maxConnections: 1 },
        default: { maxConnections: 3 },
      },
    });
    const gmail = destinationOf("gmail.com", ["gmail-smtp-in.l.google.com"], config);
    const workspace = destinationOf("customer.test", ["aspmx.l.google.com"], config);
    expect(gmail).toEqual(workspace);
    expect(gmail.key).toBe("google.com");
    expect(gmail.settings.maxConnections).toBe(20);
    expect(destinationOf("vip.test", ["aspmx.l.google.com"], config)).toMatchObject({ key: "vip.test" });
    expect(destinationOf("other.test", ["mx.other.test"], config)).toMatchObject({
      key: "other.test",
      settings: { maxConnections: 3 },
    });
  });

  it("keeps each domain separate when roll-up is off", () => {
    const config = parseConfig({ mxRollup: false });
    expect(destinationOf("gmail.com", ["gmail-smtp-in.l.google.com"], config).key).toBe("gmail.com");
  });
});
