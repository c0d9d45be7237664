// DNS queries that report whether the configured resolver validated the answer with DNSSEC (the AD bit), which
// Node's dns module hides: dns-packet over UDP (TCP when truncated) with EDNS DO set. Used for DANE (RFC 7672).
import { createSocket } from "node:dgram";
import { getServers } from "node:dns";
import { connect } from "node:net";
import dnsPacket, { type Answer, type DecodedPacket } from "dns-packet";

export interface SecureAnswer {
  /** NOERROR, NXDOMAIN, SERVFAIL, … */
  rcode: string;
  /** The resolver says it validated the answer (RFC 4035 §3.2.3; RFC 6840 §5.7 asks for AD in the query). */
  secure: boolean;
  answers: Answer[];
}

export interface SecureResolver {
  query(name: string, type: "MX" | "TLSA" | "A" | "AAAA" | "TXT"): Promise<SecureAnswer>;
}

interface Server {
  host: string;
  port: number;
}

/** "1.2.3.4", "1.2.3.4:53", "[::1]:53", "::1" → host and port. */
export function parseServer(spec: string): Server {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  if (bracket) return { host: bracket[1]!, port: Number(bracket[2] ?? 53) };
  const parts = spec.split(":");
  if (parts.length === 2) return { host: parts[0]!, port: Number(parts[1]) };
  return { host: spec, port: 53 };
}

export function createSecureResolver(opts: { nameservers: readonly string[]; timeoutMs: number }): SecureResolver {
  const servers = (opts.nameservers.length ? opts.nameservers : getServers()).map(parseServer);
  return {
    async query(name, type) {
      let lastError: unknown;
      for (const server of servers) {
        try {
          const packet = await udpQuery(server, name, type, opts.timeoutMs);
          const reply =
            packet.flags! & dnsPacket.TRUNCATED_RESPONSE ? await tcpQuery(server, name, type, opts.timeoutMs) : packet;
          return {
            rcode: (reply as { rcode?: string }).rcode ?? "NOERROR",
            secure: ((reply.flags ?? 0) & dnsPacket.AUTHENTIC_DATA) !== 0,
            answers: reply.answers ?? [],
          };
        } catch (err) {
          lastError = err;
        }
      }
      throw lastError ?? new Error("no DNS servers");
    },
  };
}

function encodeQuery(name: string, type: string): { id: number; buf: Buffer } {
  const id = Math.floor(Math.random() * 65535);
  const buf = dnsPacket.encode({
    type: "query",
    id,
    // RD: recursion; AD in a query asks for the AD bit in the answer (RFC 6840 §5.7)
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.AUTHENTIC_DATA,
    questions: [{ type: type as "A", name, class: "IN" }],
    additionals: [
      {
        type: "OPT",
        name: ".",
        udpPayloadSize: 1232,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: dnsPacket.DNSSEC_OK, // DO: the resolver validates and returns DNSSEC data (RFC 3225)
        options: [],
      } as unknown as dnsPacket.Answer,
    ],
  });
  return { id, buf };
}

function udpQuery(server: Server, name: string, type: string, timeoutMs: number): Promise<DecodedPacket> {
  const { id, buf } = encodeQuery(name, type);
  const socket = createSocket(server.host.includes(":") ? "udp6" : "udp4");
  return new Promise<DecodedPacket>((resolve, reject) => {
    const timer = setTimeout(
      () => done(Object.assign(new Error(`DNS timeout for ${name}/${type}`), { code: "ETIMEOUT" })),
      timeoutMs,
    );
    function done(err: Error | undefined, packet?: DecodedPacket) {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(packet!);
    }
    socket.on("error", (err) => done(err));
    socket.on("message", (msg) => {
      let packet: DecodedPacket;
      try {
        packet = dnsPacket.decode(msg);
      } catch {
        return; // not a DNS answer: keep waiting
      }
      if (packet.id === id) done(undefined, packet);
    });
    socket.send(buf, server.port, server.host, (err) => err && done(err));
  });
}

// RFC 1035 §4.2.2 / RFC 7766: over TCP each message carries a two-byte length prefix.
function tcpQuery(server: Server, name: string, type: string, timeoutMs: number): Promise<DecodedPacket> {
  const { buf } = encodeQuery(name, type);
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, server.host);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`DNS timeout for ${name}/${type} (TCP)`), { code: "ETIMEOUT" }));
    }, timeoutMs);
    let pending = Buffer.alloc(0);
    socket.on("connect", () => {
      const framed = Buffer.alloc(2 + buf.length);
      framed.writeUInt16BE(buf.length, 0);
      buf.copy(framed, 2);
      socket.write(framed);
    });
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < 2 || pending.length < 2 + pending.readUInt16BE(0)) return;
      clearTimeout(timer);
      socket.destroy();
      try {
        resolve(dnsPacket.decode(pending.subarray(2, 2 + pending.readUInt16BE(0))));
      } catch (err) {
        reject(err);
      }
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
