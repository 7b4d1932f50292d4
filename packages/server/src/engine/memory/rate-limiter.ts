import { ALLOWED, TokenBucket } from '../token-bucket.js';
import type { CombinedRateDecision, RateBucket, RateLimiter } from '../types.js';

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
