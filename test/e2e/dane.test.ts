// DANE for SMTP (RFC 7672) end to end: a zone signed with ldns-signzone and validated by a real unbound against a
// local trust anchor (test/support/unbound.ts), TLSA records for the sink's port, the relay resolving through that
// unbound. DANE applies only because the answers carry the AD bit; a mismatch defers and nothing goes out in plain text.
import { createHash, X509Certificate } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { testCerts } from "../support/certs.ts";
import { type DnsServer, startDnsServer } from "../support/dns-server.ts";
import { startTestRelay, type TestRelay } from "../support/relay.ts";
import { type Sink, type SinkOptions, startSink } from "../support/smtp-sink.ts";
import { testCa } from "../support/test-ca.ts";
import { startValidatingResolver, type ValidatingResolver } from "../support/unbound.ts";
import { POOL, rfc822, sendSmtp } from "../support/world.ts";

interface DaneWorld {
  dns: DnsServer;
  sink: Sink;
  resolver: ValidatingResolver;
  relay: TestRelay;
}
let world: DaneWorld | undefined;
afterEach(async () => {
  await world?.relay.cleanup();
  await world?.resolver.close();
  await world?.sink.close();
  await world?.dns.close();
  world = undefined;
});

const ca = testCa();
const firstCert = (pem: string) =>
  new X509Certificate(pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
/** `3 1 1`: SHA-256 of the server key's SubjectPublicKeyInfo — what most DANE deployments publish. */
const daneEe = (certPem: string) =>
  `3 1 1 ${sha256(firstCert(certPem).publicKey.export({ type: "spki", format: "der" }))}`;

async function daneWorld(sinkOpts: SinkOptions, tlsa: (port: number) => string[], bogus = false): Promise<DaneWorld> {
  const dns = await startDnsServer();
  dns.set("mx.sink.test", { A: ["127.0.0.1"] });
  dns.set("sender.test", { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
  const sink = await startSink(sinkOpts);
  const records = [
    "@ IN MX 10 mx",
    "mx IN A 127.0.0.1",
    ...tlsa(sink.port).map((r) => `_${sink.port}._tcp.mx IN TLSA ${r}`),
  ];
  const resolver = await startValidatingResolver({ zone: "dane.test", records, upstream: dns.nameserver, bogus });
  const relay = await startTestRelay({
    dns: { nameservers: [resolver.nameserver], timeout: "2s" },
    pools: { default: POOL },
    zones: { default: { port: sink.port, timeouts: { connect: "5s", greeting: "5s", socket: "20s" } } },
  });
  world = { dns, sink, resolver, relay };
  return world;
}

const send = (w: DaneWorld, to: string) =>
  sendSmtp(
    w.relay.smtpPort,
    { from: "app@sender.test", to: [to] },
    rfc822({ From: "app@sender.test", To: to, Subject: "DANE" }),
  );

async function expectHeldBack(w: DaneWorld, id: string) {
  await w.relay.waitForStates(id, ["deferred"]);
  await new Promise((r) => setTimeout(r, 2500));
  const status = await w.relay.status(id);
  expect(status.deliveries.map((d) => d.state)).toEqual(["deferred"]);
  expect(w.sink.messages).toHaveLength(0);
  return status;
}

describe("DANE (RFC 7672) through a validating unbound", () => {
  it("DANE-EE: delivers over TLS to a self-signed certificate whose key the validated TLSA record names", async () => {
    const w = await daneWorld({ tls: true }, () => [daneEe(testCerts().cert)]);
    const id = await send(w, "ann@dane.test");
    const [msg] = await w.sink.waitForMessages(1);
    expect(msg!.secure).toBe(true);
    const status = await w.relay.waitForStates(id, ["delivered"]);
    expect(status.deliveries[0]!.history[0]).toMatchObject({ tls: true, tlsPolicy: "dane", mx: "mx.dane.test" });
  });

  it("DANE-TA: delivers when the certificate chains to the published trust anchor and names the MX host", async () => {
    const w = await daneWorld({ tlsCert: ca.issue(["mx.dane.test"]) }, () => [
      `2 0 1 ${sha256(firstCert(ca.certPem).raw)}`,
    ]);
    const id = await send(w, "bob@dane.test");
    await w.sink.waitForMessages(1);
    const status = await w.relay.waitForStates(id, ["delivered"]);
    expect(status.deliveries[0]!.history[0]).toMatchObject({ tls: true, tlsPolicy: "dane" });
  });

  it("defers when no TLSA record matches the certificate — never delivered unauthenticated or in plain text", async () => {
    const w = await daneWorld({ tls: true }, () => [`3 1 1 ${"00".repeat(32)}`]);
    const id = await send(w, "carl@dane.test");
    const status = await expectHeldBack(w, id);
    expect(w.sink.connections).toBeGreaterThan(0);
    expect(status.deliveries[0]!.history[0]).toMatchObject({ tlsPolicy: "dane", category: "tls" });
    expect(status.deliveries[0]!.history[0]!.response).toMatch(/DANE: no TLSA record matches/);
  });

  it("defers when the MX offers no STARTTLS while TLSA records exist", async () => {
    const w = await daneWorld({}, () => [daneEe(testCerts().cert)]);
    const id = await send(w, "dora@dane.test");
    const status = await expectHeldBack(w, id);
    expect(status.deliveries[0]!.history[0]!.response).toMatch(/STARTTLS/);
  });

  it("never delivers to a zone whose signatures do not validate (bogus): the resolver answers SERVFAIL", async () => {
    const w = await daneWorld({ tls: true }, () => [daneEe(testCerts().cert)], true);
    const id = await send(w, "gus@dane.test");
    const status = await expectHeldBack(w, id);
    expect(w.sink.connections).toBe(0);
    expect(status.deliveries[0]!.history[0]!.category).toBe("dns");
  });

  it("ignores TLSA-less hosts of the signed zone and unsigned domains: opportunistic as before", async () => {
    const w = await daneWorld({ tls: true }, () => []);
    w.dns.set("plain.test", { MX: [{ exchange: "mx.sink.test", priority: 10 }] });
    const signed = await send(w, "eve@dane.test");
    const unsigned = await send(w, "fay@plain.test");
    await w.sink.waitForMessages(2);
    for (const id of [signed, unsigned]) {
      const status = await w.relay.waitForStates(id, ["delivered"]);
      expect(status.deliveries[0]!.history[0]).toMatchObject({ tls: true, tlsPolicy: "opportunistic" });
    }
  });
});
