import { describe, expect, it } from 'vitest';
import type { RateLimiter } from '../../src/engine/types.js';

export interface RateLimiterFactory {
  create(): Promise<{ limiter: RateLimiter; close(): Promise<void> }>;
}

/** What every RateLimiter must do; each test uses its own bucket names. */
export function rateLimiterContract(name: string, factory: RateLimiterFactory): void {
  describe(`RateLimiter contract: ${name}`, () => {
    const use = async (fn: (l: RateLimiter) => Promise<void>) => {
      const { limiter, close } = await factory.create();
      try {
        await fn(limiter);
      } finally {
        await close();
      }
    };

    it('one bucket: a burst, then a refusal with the wait for one token', () =>
      use(async (l) => {
        const c1 = [{ key: 'c1', rate: 2, burst: 3 }];
        for (let i = 0; i < 3; i++) expect(await l.consumeAll('g0', c1)).toEqual({ allowed: true, retryAfterMs: 0 });
        const refused = await l.consumeAll('g0', c1);
        expect(refused.allowed).toBe(false);
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(500);
      }));

    it('consumeAll takes from every bucket or from none', () =>
      use(async (l) => {
        const buckets = [
          { key: 'u:alice', rate: 1, burst: 5 },
          { key: 't', rate: 1, burst: 2 },
        ];
        expect(await l.consumeAll('acme', buckets)).toEqual({ allowed: true, retryAfterMs: 0 });
        expect(await l.consumeAll('acme', buckets)).toEqual({ allowed: true, retryAfterMs: 0 });
        // The tenant bucket is empty: refused by it (index 1), and the user's bucket keeps its 3 tokens.
        const refused = await l.consumeAll('acme', buckets);
        expect(refused).toMatchObject({ allowed: false, refusedBy: 1 });
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(1000);
        for (let i = 0; i < 3; i++) expect((await l.consumeAll('acme', [buckets[0]!])).allowed).toBe(true);
        expect(await l.consumeAll('acme', [buckets[0]!])).toMatchObject({ allowed: false, refusedBy: 0 });
      }));

    it('consumeAll: the longest wait among short buckets, the first short bucket named', () =>
      use(async (l) => {
        const buckets = [
          { key: 'a', rate: 10, burst: 1 },
          { key: 'b', rate: 1, burst: 1 },
        ];
        expect((await l.consumeAll('g1', buckets)).allowed).toBe(true);
        const refused = await l.consumeAll('g1', buckets);
        expect(refused).toMatchObject({ allowed: false, refusedBy: 0 });
        // Bucket b refills at 1/s: the wait is about a second, not bucket a's 100 ms.
        expect(refused.retryAfterMs).toBeGreaterThan(500);
      }));

    it('consumeAll keeps groups apart, charges the cost and skips buckets at rate 0', () =>
      use(async (l) => {
        expect((await l.consumeAll('g2', [{ key: 't', rate: 1, burst: 3, cost: 3 }])).allowed).toBe(true);
        expect((await l.consumeAll('g2', [{ key: 't', rate: 1, burst: 3 }])).allowed).toBe(false);
        expect((await l.consumeAll('g3', [{ key: 't', rate: 1, burst: 3 }])).allowed).toBe(true);
        const off = [
          { key: 'off', rate: 0, burst: 0 },
          { key: 't', rate: 1, burst: 3 },
        ];
        // Index 1 is the only counted bucket of g2, which is empty.
        expect(await l.consumeAll('g2', off)).toMatchObject({ allowed: false, refusedBy: 1 });
        for (let i = 0; i < 5; i++) expect((await l.consumeAll('g2', [off[0]!])).allowed).toBe(true);
      }));
  });
}
