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

  /** Closes the idle connections whose key starts with `prefix` (e.g. one domain's). */
  closeWhere(prefix: string) {
    for (const [key, list] of this.idle) {
      if (!key.startsWith(prefix)) continue;
      for (const c of list) c.close();
      this.idle.delete(key);
    }
  }

  closeAll() {
    clearInterval(this.sweeper);
    for (const list of this.idle.values()) for (const c of list) c.close();
    this.idle.clear();
  }
}
