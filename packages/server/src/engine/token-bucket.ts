import type { RateDecision } from './types.js';

export const ALLOWED: RateDecision = Object.freeze({ allowed: true, retryAfterMs: 0 });

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

  /** Milliseconds until this bucket holds `cost` tokens at `rate` per second. */
  waitFor(rate: number, cost: number): number {
    return Math.ceil(((cost - this.tokens) * 1000) / rate);
  }

  /** Takes `cost` tokens when it holds them, refilling first; a rate of 0 or less lets everything through. */
  take(rate: number, burst: number, now: number, cost = 1): RateDecision {
    if (rate <= 0) return ALLOWED;
    this.refill(rate, Math.max(burst, cost), now);
    if (this.tokens >= cost) {
      this.tokens -= cost;
      return ALLOWED;
    }
    return { allowed: false, retryAfterMs: this.waitFor(rate, cost) };
  }
}
