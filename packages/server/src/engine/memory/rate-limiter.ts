import type { CounterStore, RateDecision, RateLimiter } from '../types.js';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Token buckets in this process. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly clock: () => number = Date.now) {}

  async consume(key: string, rate: number, burst: number, cost = 1): Promise<RateDecision> {
    return this.consumeSync(key, rate, burst, cost);
  }

  consumeSync(key: string, rate: number, burst: number, cost = 1): RateDecision {
    if (rate <= 0) return { allowed: true, retryAfterMs: 0 };
    const now = this.clock();
    const capacity = Math.max(burst, cost);
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: capacity, updatedAt: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(capacity, b.tokens + ((now - b.updatedAt) * rate) / 1000);
      b.updatedAt = now;
    }
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return { allowed: true, retryAfterMs: 0 };
    }
    return { allowed: false, retryAfterMs: Math.ceil(((cost - b.tokens) * 1000) / rate) };
  }

  /** Forgets buckets that have refilled completely (they behave like new ones). */
  sweep(maxIdleMs = 60_000): void {
    const now = this.clock();
    for (const [k, b] of this.buckets) if (now - b.updatedAt > maxIdleMs) this.buckets.delete(k);
  }
}

/** Held-resource counters in this process. */
export class MemoryCounterStore implements CounterStore {
  private readonly sets = new Map<string, Set<string>>();

  async acquire(key: string, member: string, max: number): Promise<boolean> {
    let set = this.sets.get(key);
    if (!set) this.sets.set(key, (set = new Set()));
    if (set.has(member)) return true;
    if (max > 0 && set.size >= max) {
      if (set.size === 0) this.sets.delete(key);
      return false;
    }
    set.add(member);
    return true;
  }

  async release(key: string, member: string): Promise<void> {
    const set = this.sets.get(key);
    if (!set) return;
    set.delete(member);
    if (set.size === 0) this.sets.delete(key);
  }

  async touch(): Promise<void> {}
}
