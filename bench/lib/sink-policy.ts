// The smart sink's decisions and counters (bench/sink.ts), apart from its sockets so a unit test can check them:
// which share of recipients or transactions is refused with which reply, and what was counted.
import { seededRandom } from "../../test/support/seeded-random.ts";

/** A seeded PRNG, so a run's refusals can be repeated (SINK_SEED). */
export { seededRandom };

/** A refusal the sink answers with (smtp-server writes `${code} ${text}`). */
export interface SinkReply {
  code: number;
  text: string;
}

export type RejectStage = "rcpt" | "data";

export interface RejectShares {
  /** Share of decisions answered with a temporary refusal (0–1). */
  temp: number;
  /** Share of decisions answered with a permanent refusal (0–1); temp + perm ≤ 1. */
  perm: number;
  /** Where: each RCPT TO on its own, or each transaction after its final dot. */
  at: RejectStage;
}

// Realistic replies. After DATA a permanent refusal is about the message, so it is not x.1.1 (an address status).
export const REPLIES: Record<RejectStage, { temp: SinkReply; perm: SinkReply }> = {
  rcpt: { temp: { code: 451, text: "4.7.1 Try again later" }, perm: { code: 550, text: "5.1.1 User unknown" } },
  data: { temp: { code: 451, text: "4.7.1 Try again later" }, perm: { code: 554, text: "5.7.1 Message rejected" } },
};

/** Decides, at the configured stage, whether to refuse; undefined = accept. Mail from the null sender (DSNs) is
 * never refused, so every bounce the relays send is counted, and a refused bounce cannot bounce again. */
export function createRejecter(shares: RejectShares, random: () => number) {
  if (!(shares.temp >= 0 && shares.perm >= 0 && shares.temp + shares.perm <= 1)) {
    throw new RangeError(`reject shares must be ≥ 0 and add up to ≤ 1 (got ${shares.temp} + ${shares.perm})`);
  }
  const replies = REPLIES[shares.at];
  const off = shares.temp === 0 && shares.perm === 0;
  return (stage: RejectStage, nullSender: boolean): SinkReply | undefined => {
    if (off || stage !== shares.at || nullSender) return undefined;
    const r = random();
    if (r < shares.perm) return replies.perm;
    if (r < shares.perm + shares.temp) return replies.temp;
    return undefined;
  };
}

/**
 * What the sink counted since it started. The unit that survives retries, bounces and relays that split a message
 * per domain is the recipient: every recipient a relay accepted ends, at the sink, either accepted once (`rcpts`)
 * or refused permanently (`rej5`). `settled` = rcpts + rej5 is what a run waits for; temporary refusals (`rej4`)
 * are retried by the relay and settle later. DSNs (null sender) are counted apart and never settle anything.
 */
export class SinkCounts {
  sessions = 0;
  tls = 0;
  /** Accepted transactions (not DSNs). */
  msgs = 0;
  /** Recipients of accepted transactions (not DSNs). */
  rcpts = 0;
  /** Body bytes of accepted transactions, DSNs included. */
  bytes = 0;
  /** Accepted transactions from the null sender: bounces the relays generated. */
  dsn = 0;
  /** Accepted transactions (DSNs included) over a session without TLS. */
  plain = 0;
  /** Recipients refused with 4xx / 5xx (at DATA: every recipient of the transaction). */
  rej4 = 0;
  rej5 = 0;
  /** Accepted transactions per client (the relay's local) address. */
  readonly byAddr = new Map<string, number>();
  private waiters: { min: number; resolve: (atMs: number) => void }[] = [];

  get settled(): number {
    return this.rcpts + this.rej5;
  }

  accepted(addr: string, rcpts: number, bytes: number, nullSender: boolean, secure = false): void {
    this.bytes += bytes;
    if (!secure) this.plain++;
    this.byAddr.set(addr, (this.byAddr.get(addr) ?? 0) + 1);
    if (nullSender) {
      this.dsn++;
      return;
    }
    this.msgs++;
    this.rcpts += rcpts;
    this.wake();
  }

  refused(reply: SinkReply, rcpts: number): void {
    if (reply.code >= 500) {
      this.rej5 += rcpts;
      this.wake();
    } else {
      this.rej4 += rcpts;
    }
  }

  /** `at` resolves with the time (ms since the epoch) `settled` reached `min`, at once if it has; `cancel` forgets
   * the wait (on a timeout or a closed request), after which `at` never resolves. */
  waitSettled(min: number): { at: Promise<number>; cancel(): void } {
    if (this.settled >= min) return { at: Promise.resolve(Date.now()), cancel: () => {} };
    let waiter: { min: number; resolve: (atMs: number) => void } | undefined;
    const at = new Promise<number>((resolve) => {
      waiter = { min, resolve };
      this.waiters.push(waiter);
    });
    return { at, cancel: () => (this.waiters = this.waiters.filter((w) => w !== waiter)) };
  }

  /** One line of key=value fields (the format of the bench result lines). */
  line(): string {
    const addrs = [...this.byAddr].map(([a, n]) => `${a}:${n}`).join(",");
    return (
      `sess=${this.sessions} tls=${this.tls} msgs=${this.msgs} rcpts=${this.rcpts} bytes=${this.bytes} ` +
      `dsn=${this.dsn} plain=${this.plain} rej4=${this.rej4} rej5=${this.rej5} settled=${this.settled} by_addr=${addrs || "-"}`
    );
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const now = Date.now();
    const settled = this.settled;
    this.waiters = this.waiters.filter((w) => {
      if (settled < w.min) return true;
      w.resolve(now);
      return false;
    });
  }
}
