// The policy decision on recorded DNS answers (a stub in place of the validating resolver): which hosts get DANE,
// which are left out, and how DANE, requireTLS and opportunistic combine. MTA-STS is covered end to end.
import type { Answer } from "dns-packet";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryCoordinator } from "../../shared/adapters/coordinator/memory.ts";
import { parseConfig } from "../../shared/config/load.ts";
import type { ConfigInput } from "../../shared/config/schema.ts";
import type { MxHost } from "../sender/mx.ts";
import { createTlsPolicy } from "./policy.ts";
import type { SecureAnswer, SecureResolver } from "./secure-dns.ts";

const TLSA = (name: string): Answer =>
  ({
    name,
    type: "TLSA",
    ttl: 60,
    class: "IN",
    data: { usage: 3, selector: 1, matchingType: 1, certificate: Buffer.alloc(32, 7) },
  }) as unknown as Answer;

/** Recorded answers by "name type"; anything else is a validated NXDOMAIN. */
function recorded(answers: Record<string, SecureAnswer>): SecureResolver {
  return {
    query: async (name, type) => answers[`${name} ${type}`] ?? { rcode: "NXDOMAIN", secure: true, answers: [] },
  };
}

const hosts: MxHost[] = [
  { host: "mx1.example.test", port: 25, addresses: ["192.0.2.1"] },
  { host: "mx2.example.test", port: 25, addresses: ["192.0.2.2"] },
];

function engine(answers: Record<string, SecureAnswer>, config: ConfigInput = {}) {
  const cfg = parseConfig({ ...config, tls: { mtaSts: { enabled: false } } });
  return createTlsPolicy(cfg, {
    coordinator: createMemoryCoordinator(),
    clock: { now: () => Date.now() },
    logger: pino({ level: "silent" }),
    secureDns: recorded(answers),
  });
}

const secureMx: SecureAnswer = { rcode: "NOERROR", secure: true, answers: [] };

describe("TLS policy decision (DANE on recorded answers)", () => {
  it("gives DANE to the host with validated TLSA records and leaves the other opportunistic", async () => {
    const plan = await engine({
      "example.test MX": secureMx,
      "_25._tcp.mx1.example.test TLSA": {
        rcode: "NOERROR",
        secure: true,
        answers: [TLSA("_25._tcp.mx1.example.test")],
      },
    }).plan("example.test", hosts, parseConfig({}).zones.default!);
    expect(plan.hosts.map((h) => h.host)).toEqual(["mx1.example.test", "mx2.example.test"]);
    expect(plan.forHost("mx1.example.test")).toMatchObject({ policy: "dane", enforce: true, verify: "dane" });
    expect(plan.forHost("mx1.example.test").rpt).toMatchObject({ type: "tlsa", mxHost: ["mx1.example.test"] });
    expect(plan.forHost("mx2.example.test")).toMatchObject({ policy: "opportunistic", enforce: false });
    expect(plan.policy).toBe("dane");
  });

  it("ignores TLSA records when the MX RRset is not validated (RFC 7672 §2.2.1), or the TLSA answer is not", async () => {
    const tlsa = { rcode: "NOERROR", secure: true, answers: [TLSA("_25._tcp.mx1.example.test")] };
    const insecureMx = await engine({
      "example.test MX": { ...secureMx, secure: false },
      "_25._tcp.mx1.example.test TLSA": tlsa,
    }).plan("example.test", hosts, parseConfig({}).zones.default!);
    expect(insecureMx.policy).toBe("opportunistic");
    const insecureTlsa = await engine({
      "example.test MX": secureMx,
      "_25._tcp.mx1.example.test TLSA": { ...tlsa, secure: false },
    }).plan("example.test", hosts, parseConfig({}).zones.default!);
    expect(insecureTlsa.forHost("mx1.example.test").policy).toBe("opportunistic");
  });

  it("leaves out a host whose TLSA lookup fails on a signed domain, and refuses when none is left", async () => {
    const one = await engine({
      "example.test MX": secureMx,
      "_25._tcp.mx1.example.test TLSA": { rcode: "SERVFAIL", secure: false, answers: [] },
    }).plan("example.test", hosts, parseConfig({}).zones.default!);
    expect(one.hosts.map((h) => h.host)).toEqual(["mx2.example.test"]);
    expect(one.refusal).toBeUndefined();

    const none = await engine({
      "example.test MX": secureMx,
      "_25._tcp.mx1.example.test TLSA": { rcode: "SERVFAIL", secure: false, answers: [] },
      "_25._tcp.mx2.example.test TLSA": { rcode: "SERVFAIL", secure: false, answers: [] },
    }).plan("example.test", hosts, parseConfig({}).zones.default!);
    expect(none.hosts).toEqual([]);
    expect(none.refusal).toMatchObject({ result: "dnssec-invalid" });
    expect(none.refusal!.reason).toMatch(/^4\.7\.5 /);
  });

  it("applies requireTLS (zone, then domainConfig) to hosts without DANE", async () => {
    const zone = parseConfig({ zones: { default: { requireTLS: true } } }).zones.default!;
    const plan = await engine({}).plan("example.test", hosts, zone);
    expect(plan.forHost("mx1.example.test")).toMatchObject({ policy: "require-tls", enforce: true, verify: "webpki" });
    const off = await engine({}, { domainConfig: { "example.test": { requireTLS: false } } }).plan(
      "example.test",
      hosts,
      zone,
    );
    expect(off.policy).toBe("opportunistic");
    const on = await engine({}, { domainConfig: { "example.test": { requireTLS: true } } }).plan(
      "example.test",
      hosts,
      parseConfig({}).zones.default!,
    );
    expect(on.policy).toBe("require-tls");
  });
});
