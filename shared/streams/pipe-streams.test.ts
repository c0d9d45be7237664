import { PassThrough, Readable, Transform, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { pipeStreams } from "./pipe-streams.ts";

const collector = () => {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { sink, text: () => Buffer.concat(chunks).toString() };
};
const upper = () =>
  new Transform({
    transform(chunk, _enc, cb) {
      cb(null, chunk.toString().toUpperCase());
    },
    flush(cb) {
      cb(null, "!");
    },
  });

describe("pipeStreams", () => {
  it("resolves once the last stream has finished, after every transform's flush", async () => {
    const { sink, text } = collector();
    await pipeStreams(Readable.from(["ab", "cd"]), upper(), new PassThrough(), sink);
    expect(text()).toBe("ABCD!");
  });

  it("resolves on the last transform's finish even while its output is consumed elsewhere", async () => {
    const last = upper();
    const consumed = (async () => {
      let out = "";
      for await (const c of last) out += c;
      return out;
    })();
    await pipeStreams(Readable.from(["x"]), last);
    expect(await consumed).toBe("X!");
  });

  it("rejects with the first error and destroys every stream", async () => {
    const source = new PassThrough();
    const failing = new Transform({
      transform(_c, _e, cb) {
        cb(new Error("too big"));
      },
    });
    const { sink } = collector();
    const piped = pipeStreams(source, failing, sink);
    source.write("data");
    await expect(piped).rejects.toThrow("too big");
    expect(source.destroyed && failing.destroyed && sink.destroyed).toBe(true);
  });

  it("rejects when a stream closes before it ended (premature close)", async () => {
    const source = new PassThrough();
    const { sink } = collector();
    const piped = pipeStreams(source, sink);
    source.destroy();
    await expect(piped).rejects.toMatchObject({ code: "ERR_STREAM_PREMATURE_CLOSE" });
  });

  it("sees an error the source stored before it was attached", async () => {
    const source = new PassThrough();
    source.on("error", () => {});
    source.destroy(new Error("client went away"));
    await new Promise((r) => setImmediate(r));
    await expect(pipeStreams(source, collector().sink)).rejects.toThrow("client went away");
  });

  it("rejects when the destination fails, and the source stops", async () => {
    const source = new PassThrough();
    const sink = new Writable({
      write(_c, _e, cb) {
        cb(Object.assign(new Error("disk full"), { code: "ENOSPC" }));
      },
    });
    const piped = pipeStreams(source, sink);
    source.write("x");
    await expect(piped).rejects.toMatchObject({ code: "ENOSPC" });
    expect(source.destroyed).toBe(true);
  });
});
