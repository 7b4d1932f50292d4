import type { CombinedRateDecision, CounterStore, RateBucket, RateDecision, RateLimiter } from '../types.js';

const ALLOWED: CombinedRateDecision = Object.freeze({ allowed: true, retryAfterMs: 0 });

/**
 * One token bucket. A new one has never been filled: its first `refill`, whatever the time, fills it
 * up to its capacity (as if it had been refilling forever), so a bucket is full until first used.
 */
export class TokenBucket {
  tokens = 0;
  updatedAt = -Infinity;

  /** Refills at `rate` tokens per second up to `now`, holding at most `capacity` (`rate` > 0). */
  refill(rate: number, capacity: number, now: number): void {
    this.tokens = Math.min(capacity, this.tokens + ((now - this.updatedAt) * rate) / 1000);
    this.updatedAt = now;
  }
}

/** Milliseconds until `bucket` holds `cost` tokens at `rate` per second. */
const waitFor = (bucket: TokenBucket, rate: number, cost: number) => Math.ceil(((cost - bucket.tokens) * 1000) / rate);

/**
 * Token buckets in this process: `consumeSync` (by key) and `consumeHeld` (a bucket the caller keeps,
 * such as a connection's own) for the per-address and per-connection limits, `consumeAll` as the
 * embedded engine's RateLimiter. Buckets are kept by group, then by key: the keys a caller passes
 * again and again (a connection's user and tenant) are looked up without building a string.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly groups = new Map<string, Map<string, TokenBucket>>();

  constructor(private readonly clock: () => number = Date.now) {}

  consumeSync(key: string, rate: number, burst: number, cost = 1): RateDecision {
    if (rate <= 0) return ALLOWED;
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = new TokenBucket()));
    return this.consumeHeld(b, rate, burst, cost);
  }

  /** Takes `cost` tokens from a bucket the caller keeps (it goes when the caller drops it: `sweep` never sees it). */
  consumeHeld(bucket: TokenBucket, rate: number, burst: number, cost = 1): RateDecision {
    if (rate <= 0) return ALLOWED;
    bucket.refill(rate, Math.max(burst, cost), this.clock());
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return ALLOWED;
    }
    return { allowed: false, retryAfterMs: waitFor(bucket, rate, cost) };
  }

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
        retryAfterMs = Math.max(retryAfterMs, waitFor(b, rate, cost));
      }
    }
    if (refusedBy !== undefined) return { allowed: false, retryAfterMs, refusedBy };
    for (let i = 0; i < buckets.length; i++) {
      const { key, rate, cost = 1 } = buckets[i] as RateBucket;
      if (rate > 0) (held.get(key) as TokenBucket).tokens -= cost;
    }
    return ALLOWED;
  }

  /** Forgets buckets that have refilled completely (they behave like new ones). */
  sweep(maxIdleMs = 60_000): void {
    const now = this.clock();
    for (const [k, b] of this.buckets) if (now - b.updatedAt > maxIdleMs) this.buckets.delete(k);
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
