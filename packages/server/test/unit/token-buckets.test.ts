import { describe, expect, it } from 'vitest';
import { MemoryRateLimiter } from '../../src/engine/memory/rate-limiter.js';
import { TokenBucket } from '../../src/engine/token-bucket.js';
import { LocalBuckets } from '../../src/limits/local-buckets.js';

/** A clock the test moves. */
const clockAt = (start = 1_000_000) => ({ now: start });

describe('TokenBucket', () => {
  it('starts full, refills at its rate and says how long to wait', () => {
    const clock = clockAt();
    const bucket = new TokenBucket();
    for (let i = 0; i < 3; i++) expect(bucket.take(10, 3, clock.now).allowed).toBe(true);
    expect(bucket.take(10, 3, clock.now)).toEqual({ allowed: false, retryAfterMs: 100 });
    clock.now += 250;
    expect(bucket.take(10, 3, clock.now).allowed).toBe(true);
    expect(bucket.take(10, 3, clock.now).allowed).toBe(true);
    expect(bucket.take(10, 3, clock.now)).toEqual({ allowed: false, retryAfterMs: 50 });
    // Never more than the burst, however long it rested.
    clock.now += 60_000;
    for (let i = 0; i < 3; i++) expect(bucket.take(10, 3, clock.now).allowed).toBe(true);
    expect(bucket.take(10, 3, clock.now).allowed).toBe(false);
    // A rate of 0 lets everything through and takes nothing.
    expect(bucket.take(0, 0, clock.now).allowed).toBe(true);
  });

  it('charges a cost, holding at least one costly use even above the burst', () => {
    const clock = clockAt();
    const bucket = new TokenBucket();
    expect(bucket.take(10, 5, clock.now, 11).allowed).toBe(true);
    expect(bucket.take(10, 5, clock.now, 1)).toEqual({ allowed: false, retryAfterMs: 100 });
  });
});

describe('MemoryRateLimiter', () => {
  it('keeps the same key of different groups apart, and takes from all or from none', () => {
    const limiter = new MemoryRateLimiter(() => 1_000_000);
    const buckets = [
      { key: 'u:alice', rate: 1, burst: 2 },
      { key: 't', rate: 1, burst: 3 },
    ];
    expect(limiter.consumeAllSync('acme', buckets).allowed).toBe(true);
    expect(limiter.consumeAllSync('acme', buckets).allowed).toBe(true);
    // alice is out of tokens: refused by bucket 0, and the tenant keeps its last token.
    expect(limiter.consumeAllSync('acme', buckets)).toEqual({ allowed: false, retryAfterMs: 1000, refusedBy: 0 });
    expect(limiter.consumeAllSync('acme', [{ key: 'u:bob', rate: 1, burst: 2 }, buckets[1]!]).allowed).toBe(true);
    expect(limiter.consumeAllSync('acme', [{ key: 'u:carol', rate: 1, burst: 2 }, buckets[1]!])).toMatchObject({ allowed: false, refusedBy: 1 });
    // Another tenant's alice and tenant bucket are untouched.
    expect(limiter.consumeAllSync('globex', buckets).allowed).toBe(true);
  });

  it('sweep forgets buckets idle for longer than maxIdleMs', () => {
    const clock = clockAt();
    const limiter = new MemoryRateLimiter(() => clock.now);
    expect(limiter.consumeAllSync('acme', [{ key: 'u:alice', rate: 1, burst: 1 }]).allowed).toBe(true);
    clock.now += 500;
    limiter.sweep(1000);
    // Still remembered: still empty (half a token).
    expect(limiter.consumeAllSync('acme', [{ key: 'u:alice', rate: 1, burst: 1 }]).allowed).toBe(false);
    expect(limiter.size()).toBe(1);
    clock.now += 1001;
    limiter.sweep(1000);
    expect(limiter.size()).toBe(0);
  });
});

describe('LocalBuckets', () => {
  it('keeps a bucket per key, forgets idle ones, and holds at most maxKeys', () => {
    const clock = clockAt();
    const buckets = new LocalBuckets(10, () => clock.now);
    expect(buckets.take('ip:a', 1, 1).allowed).toBe(true);
    expect(buckets.take('ip:a', 1, 1).allowed).toBe(false);
    expect(buckets.take('ip:b', 1, 1).allowed).toBe(true);
    clock.now += 500;
    buckets.sweep(1000);
    expect(buckets.take('ip:a', 1, 1).allowed).toBe(false);
    clock.now += 2000;
    buckets.sweep(1000);
    expect(buckets.size).toBe(0);
    for (let i = 0; i < 25; i++) {
      clock.now += 1;
      buckets.take(`ip:${i}`, 1, 1);
    }
    expect(buckets.size).toBeLessThanOrEqual(10);
    // The newest keys are kept: their buckets stay spent.
    expect(buckets.take('ip:24', 1, 1).allowed).toBe(false);
  });
});
