// A minimal SMTP reply reader for bench/load.ts: turns socket data into complete replies (multi-line replies
// joined), handed out in order, so pipelined commands (RFC 2920) can be matched to their replies.

export interface Reply {
  code: number;
  text: string;
}

export class ReplyReader {
  private partial = "";
  private lines: string[] = [];
  private readonly ready: Reply[] = [];
  private readonly waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private failed: Error | undefined;

  /** Socket data (latin1: replies are ASCII, and no byte is lost on a split). */
  feed(chunk: string): void {
    let data = this.partial + chunk;
    for (let nl = data.indexOf("\n"); nl !== -1; nl = data.indexOf("\n")) {
      const line = data.slice(0, nl).replace(/\r$/, "");
      data = data.slice(nl + 1);
      this.lines.push(line);
      // RFC 5321 §4.2.1: "250-…" continues, "250 …" (or a bare code) ends the reply.
      if (line.length <= 3 || line[3] === " ") {
        const reply = { code: Number(line.slice(0, 3)), text: this.lines.join("\n") };
        this.lines = [];
        const w = this.waiting.shift();
        if (w) w.resolve(reply);
        else this.ready.push(reply);
      }
    }
    this.partial = data;
  }

  /** Fails every pending and future read (the connection is gone). */
  fail(err: Error): void {
    this.failed ??= err;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  next(): Promise<Reply> {
    const r = this.ready.shift();
    if (r) return Promise.resolve(r);
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
}
