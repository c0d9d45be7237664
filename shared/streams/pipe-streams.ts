// Pipes streams into each other and settles once, like stream/promises' pipeline() for the cases we use it for:
// resolves when the last stream has finished (its writable side), rejects with the first error or premature close,
// and destroys every stream on failure.
//
// Why not pipeline(): every call builds an AbortController, aborts it at the end (a DOMException) and destroys
// each stream with an ERR_STREAM_DESTROYED error, whose stack trace goes through the source-map support tsx turns
// on. With three pipelines per message that was ~3% of the relay's CPU at 4 KB (issue 9). Errors here are made
// only when something actually fails.
import type { Readable, Writable } from "node:stream";

type Stage = Readable | Writable;

export function pipeStreams(...streams: Stage[]): Promise<void> {
  if (streams.length < 2) return Promise.reject(new TypeError("pipeStreams needs at least two streams"));
  const last = streams.length - 1;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      for (const s of streams) if (!s.destroyed) s.destroy(err);
      reject(err);
    };
    const done = (s: Stage, i: number) =>
      (i === 0 || (s as Writable).writableFinished) && (i === last || (s as Readable).readableEnded);

    for (const [i, s] of streams.entries()) {
      s.on("error", fail);
      s.on("close", () => {
        if (!settled && !done(s, i)) fail(prematureClose());
      });
    }
    for (const [i, s] of streams.entries()) {
      // A stream that failed before we got here has already emitted its events: take its stored error.
      const early = (s as { errored?: Error | null }).errored;
      if (early) return fail(early);
      if (s.destroyed && !done(s, i)) return fail(prematureClose());
    }
    (streams[last] as Writable).on("finish", () => {
      if (settled) return;
      settled = true;
      resolve();
    });
    for (let i = 0; i < last; i++) (streams[i] as Readable).pipe(streams[i + 1] as Writable);
  });
}

function prematureClose(): Error {
  return Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
}
