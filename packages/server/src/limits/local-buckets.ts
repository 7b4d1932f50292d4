import { TokenBucket } from '../engine/token-bucket.js';
import type { RateDecision } from '../engine/types.js';

/**
 * Token buckets of this instance by key (client addresses), for limits that protect this instance's own
 * resources. Idle buckets are dropped by `sweep` (a full bucket behaves like a missing one), and at most
 * `maxKeys` are held: past that, the idlest half goes at once, so a spray of addresses costs bounded memory.
 */
export class LocalBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly maxKeys = 100_000,
    private readonly clock: () => number = Date.now,
  ) {}

  take(key: string, rate: number, burst: number, cost = 1): RateDecision {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.evict();
      this.buckets.set(key, (b = new TokenBucket()));
    }
    return b.take(rate, burst, this.clock(), cost);
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Drops buckets untouched for `maxIdleMs`. */
  sweep(maxIdleMs = 60_000): void {
    const now = this.clock();
    for (const [k, b] of this.buckets) if (now - b.updatedAt > maxIdleMs) this.buckets.delete(k);
  }

  private evict(): void {
    const byAge = [...this.buckets].sort((a, b) => a[1].updatedAt - b[1].updatedAt);
    for (const [k] of byAge.slice(0, Math.ceil(byAge.length / 2))) this.buckets.delete(k);
  }
}
