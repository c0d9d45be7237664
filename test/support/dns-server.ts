// A small authoritative DNS server on loopback (UDP and TCP on one port) serving a mutable test zone.
//
// Semantics: names are case-insensitive and a trailing dot is ignored; a name that is absent is NXDOMAIN; a name that
// is present without records of the asked type is NOERROR with an empty answer (NODATA); `servfail` answers SERVFAIL;
// `silent` answers nothing at all, so the client times out.
// Every answer has the AA flag and TTL 0, so a caching resolver (c-ares caches by TTL) sees `set()` at once.
// A null MX (RFC 7505) is `MX: [{ exchange: ".", priority: 0 }]`; Node's resolveMx returns it as exchange "".
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type Question } from "dns-packet";

export interface ZoneRecords {
  MX?: { exchange: string; priority: number }[];
  A?: string[];
  AAAA?: string[];
  TXT?: string[];
  nxdomain?: true;
  servfail?: true;
  /** Never answer questions about this name (a dead or firewalled resolver path): the client times out. */
  silent?: true;
}

export interface Zone {
  [name: string]: ZoneRecords;
}

export interface DnsServer {
  port: number;
  /** "127.0.0.1:PORT", for `Resolver.setServers([nameserver])`. */
  nameserver: string;
  set(name: string, records: ZoneRecords): void;
  clear(): void;
  /** Every question received, in order (name lower-cased, without the trailing dot). */
  queries: { name: string; type: string }[];
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
/** The answer to a `silent` name: none (the connection stays open, the client waits). */
const SILENCE = Buffer.alloc(0);
// RFC 1035 §4.2.1: 512 bytes over UDP unless EDNS (RFC 6891 §6.2.5) offers more
const UDP_DEFAULT_MAX = 512;

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

// RFC 1035 §3.3.14: a TXT record is a sequence of strings of at most 255 bytes each.
function txtChunks(text: string): Buffer[] {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks.length ? chunks : [Buffer.alloc(0)];
}

function answersFor(q: Question, records: ZoneRecords): Answer[] {
  const base = { name: q.name, ttl: 0, class: "IN" as const };
  switch (q.type) {
    case "A":
      return (records.A ?? []).map((data) => ({ ...base, type: "A", data }));
    case "AAAA":
      return (records.AAAA ?? []).map((data) => ({ ...base, type: "AAAA", data }));
    case "MX":
      return (records.MX ?? []).map((mx) => ({
        ...base,
        type: "MX",
        data: { preference: mx.priority, exchange: mx.exchange },
      }));
    case "TXT":
      return (records.TXT ?? []).map((text) => ({ ...base, type: "TXT", data: txtChunks(text) }));
    default:
      return [];
  }
}

class TestDnsServer implements DnsServer {
  port = 0;
  queries: { name: string; type: string }[] = [];
  private readonly zone = new Map<string, ZoneRecords>();
  private udp!: UdpSocket;
  private tcp!: Server;
  private readonly tcpClients = new Set<Socket>();

  constructor(zone: Zone) {
    for (const [name, records] of Object.entries(zone)) this.set(name, records);
  }

  get nameserver(): string {
    return `${HOST}:${this.port}`;
  }

  set(name: string, records: ZoneRecords): void {
    this.zone.set(normalize(name), records);
  }

  clear(): void {
    this.zone.clear();
  }

  /** Binds UDP on a kernel-chosen port, then TCP on the same number; retries when TCP finds it taken. */
  async listen(): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 20; attempt++) {
      const udp = createSocket("udp4");
      await new Promise<void>((resolve, reject) => {
        udp.once("error", reject);
        udp.bind(0, HOST, () => resolve());
      });
      const port = udp.address().port;
      const tcp = createServer((socket) => this.serveTcp(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once("error", reject);
          tcp.listen(port, HOST, () => resolve());
        });
      } catch (err) {
        lastError = err;
        udp.close();
        continue;
      }
      udp.on("message", (msg, rinfo) => {
        const reply = this.respond(msg, true);
        if (reply && reply !== SILENCE) udp.send(reply, rinfo.port, rinfo.address);
      });
      udp.on("error", () => {});
      tcp.on("error", () => {});
      this.udp = udp;
      this.tcp = tcp;
      this.port = port;
      return;
    }
    throw new Error(`dns-server: no port free for both UDP and TCP: ${lastError}`);
  }

  close(): Promise<void> {
    for (const socket of this.tcpClients) socket.destroy();
    return Promise.all([
      new Promise<void>((resolve) => this.udp.close(() => resolve())),
      new Promise<void>((resolve) => this.tcp.close(() => resolve())),
    ]).then(() => undefined);
  }

  // RFC 1035 §4.2.2: over TCP each message is preceded by its two-byte length.
  private serveTcp(socket: Socket): void {
    this.tcpClients.add(socket);
    socket.on("close", () => this.tcpClients.delete(socket));
    socket.on("error", () => {});
    let pending = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const reply = this.respond(pending.subarray(2, 2 + length), false);
        pending = pending.subarray(2 + length);
        if (!reply) {
          socket.destroy();
          return;
        }
        if (reply === SILENCE) continue;
        const framed = Buffer.alloc(2 + reply.length);
        framed.writeUInt16BE(reply.length, 0);
        reply.copy(framed, 2);
        socket.write(framed);
      }
    });
  }

  private respond(raw: Buffer, udp: boolean): Buffer | undefined {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(raw);
    } catch {
      return undefined; // not DNS: drop it, as a real server would
    }
    const questions = query.questions ?? [];
    if (questions.some((q) => this.zone.get(normalize(q.name))?.silent)) {
      for (const q of questions) this.queries.push({ name: normalize(q.name), type: q.type });
      return SILENCE;
    }
    let rcode: number = RCODE.NOERROR;
    const answers: Answer[] = [];
    for (const q of questions) {
      const name = normalize(q.name);
      this.queries.push({ name, type: q.type });
      const records = this.zone.get(name);
      if (!records || records.nxdomain) rcode = RCODE.NXDOMAIN;
      else if (records.servfail) rcode = RCODE.SERVFAIL;
      else answers.push(...answersFor(q, records));
    }
    const opt = query.additionals?.find((a) => a.type === "OPT");
    // AA always; RD echoed from the query (RFC 1035 §4.1.1); RA never: this server does not recurse
    const flags = dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | rcode;
    const response: Packet = {
      type: "response",
      id: query.id,
      flags,
      questions,
      answers: rcode === RCODE.NOERROR ? answers : [],
      // RFC 6891 §7: answer EDNS with EDNS
      additionals: opt
        ? [
            {
              type: "OPT",
              name: ".",
              udpPayloadSize: 1232,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ]
        : [],
    };
    let encoded = dnsPacket.encode(response);
    const maxUdp = opt && opt.type === "OPT" ? Math.max(opt.udpPayloadSize, UDP_DEFAULT_MAX) : UDP_DEFAULT_MAX;
    if (udp && encoded.length > maxUdp) {
      // RFC 2181 §9: too big for UDP; set TC and let the client retry over TCP
      encoded = dnsPacket.encode({
        ...response,
        flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
        answers: [],
      });
    }
    return encoded;
  }
}

/** Starts the server on 127.0.0.1 with UDP and TCP on one kernel-chosen port. */
export async function startDnsServer(zone: Zone = {}): Promise<DnsServer> {
  const server = new TestDnsServer(zone);
  await server.listen();
  return server;
}
