import { ALLOWED, TokenBucket } from '../token-bucket.js';
import type { CombinedRateDecision, CounterStore, RateBucket, RateLimiter } from '../types.js';

/**
 * The embedded engine's token buckets, kept by group, then by key: the keys a caller passes again and
 * again (a connection's user and tenant) are looked up without building a string.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly groups = new Map<string, Map<string, TokenBucket>>();

  constructor(private readonly clock: () => number = Date.now) {}

  async consumeAll(group: string, buckets: readonly RateBucket[]): Promise<CombinedRateDecision> {
    return this.consumeAllSync(group, buckets);
  }

  /** `consumeAll`, answered at once. */
  consumeAllSync(group: string, buckets: readonly RateBucket[]): CombinedRateDecision {
    const now = this.clock();
    let held = this.groups.get(group);
    if (!held) this.groups.set(group, (held = new Map()));
    let refusedBy: number | undefined;
    let retryAfterMs = 0;
    for (let i = 0; i < buckets.length; i++) {
      const { key, rate, burst, cost = 1 } = buckets[i] as RateBucket;
      if (rate <= 0) continue;
      let b = held.get(key);
      if (!b) held.set(key, (b = new TokenBucket()));
      b.refill(rate, Math.max(burst, cost), now);
      if (b.tokens < cost) {
        refusedBy ??= i;
        retryAfterMs = Math.max(retryAfterMs, b.waitFor(rate, cost));
      }
    }
    if (refusedBy !== undefined) return { allowed: false, retryAfterMs, refusedBy };
    for (let i = 0; i < buckets.length; i++) {
      const { key, rate, cost = 1 } = buckets[i] as RateBucket;
      if (rate > 0) (held.get(key) as TokenBucket).tokens -= cost;
    }
    return ALLOWED;
  }

  /** Buckets held (for tests of what clients can make the server keep). */
  size(): number {
    let n = 0;
    for (const held of this.groups.values()) n += held.size;
    return n;
  }

  /** Forgets buckets idle for `maxIdleMs` (refilled completely by then, they behave like new ones). */
  sweep(maxIdleMs = 60_000): void {
    const now = this.clock();
    for (const [g, held] of this.groups) {
      for (const [k, b] of held) if (now - b.updatedAt > maxIdleMs) held.delete(k);
      if (held.size === 0) this.groups.delete(g);
    }
  }
}

/**
 * Held-resource counters in this process. A key held by one member (the usual
 * case: one connection per user) is kept as that member alone; a set is made
 * from the second member on.
 */
export class MemoryCounterStore implements CounterStore {
  private readonly held = new Map<string, string | Set<string>>();

  async acquire(key: string, member: string, max: number): Promise<boolean> {
    const cur = this.held.get(key);
    if (cur === undefined) {
      this.held.set(key, member);
      return true;
    }
    if (cur === member) return true;
    if (typeof cur === 'string') {
      if (max > 0 && max <= 1) return false;
      this.held.set(key, new Set([cur, member]));
      return true;
    }
    if (cur.has(member)) return true;
    if (max > 0 && cur.size >= max) return false;
    cur.add(member);
    return true;
  }

  async release(key: string, member: string): Promise<void> {
    const cur = this.held.get(key);
    if (cur === undefined) return;
    if (typeof cur === 'string') {
      if (cur === member) this.held.delete(key);
      return;
    }
    cur.delete(member);
    if (cur.size === 1) this.held.set(key, cur.values().next().value as string);
    else if (cur.size === 0) this.held.delete(key);
  }

  async touch(): Promise<void> {}
}
