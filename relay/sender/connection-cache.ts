// Idle outbound connections kept for reuse by the next delivery to the same destination from the same local address.
import type { SmtpClient } from "./smtp-client.ts";

export class ConnectionCache {
  private idle = new Map<string, SmtpClient[]>();
  private sweeper: NodeJS.Timeout;

  constructor(private readonly limits: { ttl: number; reuseCount: number }) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(limits.ttl, 10_000)));
    this.sweeper.unref();
  }

  take(key: string): SmtpClient | undefined {
    const list = this.idle.get(key);
    while (list?.length) {
      const client = list.pop()!;
      if (this.fresh(client)) return client;
      client.close();
    }
    return undefined;
  }

  put(key: string, client: SmtpClient) {
    if (!this.fresh(client)) {
      client.close();
      return;
    }
    const list = this.idle.get(key) ?? [];
    list.push(client);
    this.idle.set(key, list);
  }

  /** Usable, not used up, and not idle for longer than the ttl. */
  fresh(client: SmtpClient): boolean {
    return client.usable && client.uses < this.limits.reuseCount && Date.now() - client.lastUsedAt < this.limits.ttl;
  }

  private sweep() {
    for (const [key, list] of this.idle) {
      const keep = list.filter((c) => {
        if (this.fresh(c)) return true;
        c.close();
        return false;
      });
      if (keep.length) this.idle.set(key, keep);
      else this.idle.delete(key);
    }
  }

  /**
   * Closes the idle connection whose key starts with `prefix` (e.g. one domain's) that has waited longest; false
   * when there is none. A lane that gives back its slot closes one: the connection it held, or one just like it.
   */
  closeOneWhere(prefix: string): boolean {
    let oldest: { key: string; list: SmtpClient[]; at: number } | undefined;
    for (const [key, list] of this.idle) {
      // take() pops from the end, so the first of each list has waited longest.
      if (key.startsWith(prefix) && list.length && (!oldest || list[0]!.lastUsedAt < oldest.at)) {
        oldest = { key, list, at: list[0]!.lastUsedAt };
      }
    }
    if (!oldest) return false;
    oldest.list.shift()!.close();
    if (oldest.list.length === 0) this.idle.delete(oldest.key);
    return true;
  }

  closeAll() {
    clearInterval(this.sweeper);
    for (const list of this.idle.values()) for (const c of list) c.close();
    this.idle.clear();
  }
}
