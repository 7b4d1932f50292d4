import type { CombinedRateDecision, CounterStore, RateBucket, RateDecision, RateLimiter } from '../types.js';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Token buckets in this process: `consumeSync` for the per-connection and per-address limits, `consumeAll` as the embedded engine's RateLimiter. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly clock: () => number = Date.now) {}

  consumeSync(key: string, rate: number, burst: number, cost = 1): RateDecision {
    if (rate <= 0) return { allowed: true, retryAfterMs: 0 };
    const b = this.refill(key, rate, burst, cost, this.clock());
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return { allowed: true, retryAfterMs: 0 };
    }
    return { allowed: false, retryAfterMs: Math.ceil(((cost - b.tokens) * 1000) / rate) };
  }

  async consumeAll(group: string, buckets: readonly RateBucket[]): Promise<CombinedRateDecision> {
    const now = this.clock();
    const filled: (Bucket | undefined)[] = [];
    let refusedBy: number | undefined;
    let retryAfterMs = 0;
    buckets.forEach(({ key, rate, burst, cost = 1 }, i) => {
      if (rate <= 0) return;
      const b = this.refill(`${group}:${key}`, rate, burst, cost, now);
      filled[i] = b;
      if (b.tokens < cost) {
        refusedBy ??= i;
        retryAfterMs = Math.max(retryAfterMs, Math.ceil(((cost - b.tokens) * 1000) / rate));
      }
    });
    if (refusedBy !== undefined) return { allowed: false, retryAfterMs, refusedBy };
    buckets.forEach(({ cost = 1 }, i) => {
      const b = filled[i];
      if (b) b.tokens -= cost;
    });
    return { allowed: true, retryAfterMs: 0 };
  }

  /** The bucket of `key`, refilled up to `now` (a new bucket is full). */
  private refill(key: string, rate: number, burst: number, cost: number, now: number): Bucket {
    const capacity = Math.max(burst, cost);
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: capacity, updatedAt: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(capacity, b.tokens + ((now - b.updatedAt) * rate) / 1000);
      b.updatedAt = now;
    }
    return b;
  }

  /** Forgets buckets that have refilled completely (they behave like new ones). */
  sweep(maxIdleMs = 60_000): void {
    const now = this.clock();
    for (const [k, b] of this.buckets) if (now - b.updatedAt > maxIdleMs) this.buckets.delete(k);
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
