// The message as it leaves: the stored header block after the plugins' send-time changes (headers added after
// intake, sender:headers) with DKIM-Signature fields on top, made from the body hashes intake stored; then the
// stored body, streamed. Everything is decided before MAIL FROM, so a plugin's refusal never cuts a DATA short.
import { Readable } from "node:stream";
import type { LeasedDelivery } from "../../shared/domain/envelope.ts";
import type { BodyCanonicalization, DkimBodyHashes } from "../../shared/mail/dkim/body-hash.ts";
import { keysForMessage } from "../../shared/mail/dkim/keys.ts";
import { type DkimKey, dkimSignatures, rawFields } from "../../shared/mail/dkim/sign.ts";
import { HeaderRewriter } from "../../shared/mail/header-rewriter.ts";
import { HeaderEditor } from "../../shared/plugins/header-editor.ts";
import type { PluginHost } from "../../shared/plugins/host.ts";
import type { BodyStore } from "../../shared/ports/body-store.ts";
import type { Clock } from "../../shared/ports/clock.ts";
import { pipeStreams } from "../../shared/streams/pipe-streams.ts";
import { type DkimSetup, hashStoredBody } from "./dkim.ts";

export interface OutgoingDeps {
  bodyStore: BodyStore;
  clock: Clock;
  dkim?: DkimSetup | undefined;
  plugins?: PluginHost | undefined;
}

export interface Outgoing {
  /** Opens the message stream; callable again (a retry on a fresh connection). */
  open(): Promise<Readable>;
}

const MAX_HEADER_BYTES = 1024 * 1024;
/**
 * A message up to this size is read once, into memory, when its header block is needed: one read serves the
 * signature and the DATA (a file store spends an open, reads and a close on each). At most one per lane.
 */
const READ_ONCE_MAX = 256 * 1024;

/**
 * Prepares one delivery's message. `transportDomain` is the EHLO name (signTransportDomain), `extraKeys` come from
 * plugins (sender:connect). Throws the MailError of a plugin that refused in sender:headers.
 */
export async function prepareOutgoing(
  d: LeasedDelivery,
  deps: OutgoingDeps,
  transportDomain?: string,
  extraKeys: readonly DkimKey[] = [],
): Promise<Outgoing> {
  const configured = deps.dkim?.keys ?? [];
  const editsHeaders = Boolean(d.message.extraHeaders?.length) || deps.plugins?.has("sender:headers") === true;
  if (configured.length === 0 && extraKeys.length === 0 && !editsHeaders) {
    return { open: () => deps.bodyStore.get(d.message.bodyId) };
  }
  const whole = d.message.size <= READ_ONCE_MAX ? await readWhole(deps.bodyStore, d.message.bodyId) : undefined;
  let block = whole ? headerBlockOf(whole) : await readHeaderBlock(deps.bodyStore, d.message.bodyId);
  if (block === undefined) return { open: () => deps.bodyStore.get(d.message.bodyId) }; // no header end: as is
  const cut = block.length; // bytes: the block is a "binary" string
  if (editsHeaders) {
    const editor = new HeaderEditor(Buffer.from(block, "latin1").toString("utf8"));
    for (const line of [...(d.message.extraHeaders ?? [])].reverse()) {
      const colon = line.indexOf(":");
      editor.add(line.slice(0, colon), line.slice(colon + 1).trim(), "top");
    }
    if (deps.plugins) await deps.plugins.run("sender:headers", { delivery: d, headers: editor });
    block = Buffer.from(editor.toString(), "utf8").toString("latin1");
  }
  const signatures = await sign(d, deps, block, transportDomain, extraKeys);
  const head = signatures + block;
  if (whole) {
    // The same cut HeaderRewriter makes: the stored header block replaced, the blank line and body as stored.
    // Two chunks rather than one copy of the message: at 100 KB a copy (and its garbage) per delivery.
    const chunks = [Buffer.from(head, "latin1"), whole.subarray(cut)].filter((c) => c.length > 0);
    return { open: async () => Readable.from(chunks, { objectMode: false }) };
  }
  return {
    async open() {
      const out = new HeaderRewriter(() => head);
      pipeStreams(await deps.bodyStore.get(d.message.bodyId), out).catch(() => {}); // errors reach `out`'s reader
      return out;
    },
  };
}

async function sign(
  d: LeasedDelivery,
  deps: OutgoingDeps,
  block: string,
  transportDomain: string | undefined,
  extraKeys: readonly DkimKey[],
): Promise<string> {
  const setup = deps.dkim;
  const from = rawFields(Buffer.from(block, "latin1").toString("utf8")).find((f) => f.key === "from");
  const fromValue = from?.raw.slice(from.raw.indexOf(":") + 1).replace(/\r\n/g, "");
  const keys = [
    ...keysForMessage(setup?.keys ?? [], fromValue, setup?.signTransportDomain ? transportDomain : undefined),
    ...extraKeys,
  ];
  if (keys.length === 0) return "";
  const hashes: DkimBodyHashes = { ...d.message.dkimBodyHash };
  const missing = [...new Set(keys.map((k) => k.canonicalization.split("/")[1] as BodyCanonicalization))].filter(
    (c) => !hashes[c],
  );
  if (missing.length) Object.assign(hashes, await hashStoredBody(deps.bodyStore, d.message.bodyId, missing));
  return dkimSignatures(block, hashes, keys, {
    headerFields: setup?.options.headerFields ?? ["From", "To", "Subject", "Date", "Message-ID"],
    overSign: setup?.options.overSign ?? ["From"],
    now: new Date(deps.clock.now()),
    ...(setup?.options.expiresIn ? { expiresIn: setup.options.expiresIn } : {}),
  });
}

/** A stored body of known small size, whole (as it is when the store gives it in one chunk, from memory). */
async function readWhole(store: BodyStore, bodyId: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(bodyId)) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** The header block of a whole message, as readHeaderBlock finds it in a stream. */
function headerBlockOf(message: Buffer): string | undefined {
  if (message[0] === 0x0d && message[1] === 0x0a) return "";
  const end = message.indexOf("\r\n\r\n");
  if (end !== -1) return message.subarray(0, end + 2).toString("latin1");
  return message.length > MAX_HEADER_BYTES ? undefined : message.toString("latin1");
}

/** The stored header block ("binary" string, without the blank line), or undefined when it does not end in time. */
async function readHeaderBlock(store: BodyStore, bodyId: string): Promise<string | undefined> {
  const stream = await store.get(bodyId);
  let head = Buffer.alloc(0);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      head = Buffer.concat([head, chunk]);
      if (head[0] === 0x0d && head[1] === 0x0a) return "";
      const end = head.indexOf("\r\n\r\n");
      if (end !== -1) return head.subarray(0, end + 2).toString("latin1");
      if (head.length > MAX_HEADER_BYTES) return undefined;
    }
    return head.toString("latin1");
  } finally {
    stream.destroy();
  }
}
