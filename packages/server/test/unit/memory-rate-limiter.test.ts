import { describe, expect, it } from 'vitest';
import { MemoryRateLimiter, TokenBucket } from '../../src/engine/memory/rate-limiter.js';

/** A limiter on a clock the test moves. */
function limiterAt(start = 1_000_000) {
  const clock = { now: start };
  return { clock, limiter: new MemoryRateLimiter(() => clock.now) };
}

describe('MemoryRateLimiter', () => {
  it('a bucket the caller holds starts full, refills at its rate and says how long to wait', () => {
    const { clock, limiter } = limiterAt();
    const bucket = new TokenBucket();
    for (let i = 0; i < 3; i++) expect(limiter.consumeHeld(bucket, 10, 3).allowed).toBe(true);
    expect(limiter.consumeHeld(bucket, 10, 3)).toEqual({ allowed: false, retryAfterMs: 100 });
    clock.now += 250;
    expect(limiter.consumeHeld(bucket, 10, 3).allowed).toBe(true);
    expect(limiter.consumeHeld(bucket, 10, 3).allowed).toBe(true);
    expect(limiter.consumeHeld(bucket, 10, 3)).toEqual({ allowed: false, retryAfterMs: 50 });
    // Never more than the burst, however long it rested.
    clock.now += 60_000;
    for (let i = 0; i < 3; i++) expect(limiter.consumeHeld(bucket, 10, 3).allowed).toBe(true);
    expect(limiter.consumeHeld(bucket, 10, 3).allowed).toBe(false);
    // A rate of 0 lets everything through and takes nothing.
    expect(limiter.consumeHeld(bucket, 0, 0).allowed).toBe(true);
  });

  it('keeps the same key of different groups apart, and takes from all or from none', () => {
    const { limiter } = limiterAt();
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

  it('sweep forgets buckets idle for longer than maxIdleMs, keyed and grouped alike', () => {
    const { clock, limiter } = limiterAt();
    expect(limiter.consumeSync('ip:a', 1, 1).allowed).toBe(true);
    expect(limiter.consumeAllSync('acme', [{ key: 'u:alice', rate: 1, burst: 1 }]).allowed).toBe(true);
    expect(limiter.consumeSync('ip:a', 1, 1).allowed).toBe(false);
    clock.now += 500;
    limiter.sweep(1000);
    // Still remembered: still empty (half a token).
    expect(limiter.consumeSync('ip:a', 1, 1).allowed).toBe(false);
    expect(limiter.consumeAllSync('acme', [{ key: 'u:alice', rate: 1, burst: 1 }]).allowed).toBe(false);
    clock.now += 1001;
    limiter.sweep(1000);
    const kept = limiter as unknown as { buckets: Map<string, unknown>; groups: Map<string, Map<string, unknown>> };
    expect(kept.buckets.size).toBe(0);
    expect(kept.groups.size).toBe(0);
  });
});
