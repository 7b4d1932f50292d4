import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCounterStore } from '../../src/engine/redis/counters.js';
import { KeySpace } from '../../src/engine/redis/keys.js';
import { RedisRateLimiter } from '../../src/engine/redis/rate-limiter.js';
import { redisClient } from '../helpers/redis-clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let c1: Redis;
let c2: Redis;
const keys = new KeySpace('lim:');
/** One bucket of group `acme`. */
const one = (l: RedisRateLimiter, key: string, rate: number, burst: number, cost?: number) =>
  l.consumeAll('acme', [{ key, rate, burst, ...(cost !== undefined && { cost }) }]);

beforeAll(async () => {
  server = await startRedisServer();
  c1 = redisClient(server.port);
  c2 = redisClient(server.port);
});
afterAll(async () => {
  c1?.disconnect();
  c2?.disconnect();
  await server?.stop();
});

describe('RedisRateLimiter', () => {
  it('shares one bucket between instances: burst, then refusal with retryAfterMs', async () => {
    const first = new RedisRateLimiter({ client: c1, keys });
    const second = new RedisRateLimiter({ client: c2, keys });
    const decisions: Awaited<ReturnType<typeof one>>[] = [];
    for (let i = 0; i < 6; i++) decisions.push(await one(i % 2 === 0 ? first : second, 'u:alice', 2, 5));
    expect(decisions.slice(0, 5).every((d) => d.allowed && d.retryAfterMs === 0)).toBe(true);
    expect(decisions[5]?.allowed).toBe(false);
    // One token at 2/s takes at most 500 ms; some of it has already refilled.
    expect(decisions[5]?.retryAfterMs).toBeGreaterThan(0);
    expect(decisions[5]?.retryAfterMs).toBeLessThanOrEqual(500);
    await new Promise((r) => setTimeout(r, (decisions[5]?.retryAfterMs ?? 0) + 20));
    expect((await one(second, 'u:alice', 2, 5)).allowed).toBe(true);
    expect((await one(first, 'u:alice', 2, 5)).allowed).toBe(false);
  });

  it('keeps keys apart, charges the cost, and lets everything through at rate 0', async () => {
    const limiter = new RedisRateLimiter({ client: c1, keys });
    expect(await one(limiter, 'k1', 1, 3, 3)).toEqual({ allowed: true, retryAfterMs: 0 });
    const refused = await one(limiter, 'k1', 1, 3, 2);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThan(1900);
    expect((await one(limiter, 'k2', 1, 3)).allowed).toBe(true);
    // A cost above the burst is allowed once from a full bucket (capacity is max(burst, cost)), like the memory limiter.
    expect((await one(limiter, 'k3', 1, 2, 4)).allowed).toBe(true);
    for (let i = 0; i < 5; i++) expect((await one(limiter, 'k1', 0, 0)).allowed).toBe(true);
  });

  it('works on an auto-pipelining client when its first check shares a pipeline with other commands', async () => {
    const piped = new Redis(server.port, '127.0.0.1', { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
    try {
      await piped.ping();
      const limiter = new RedisRateLimiter({ client: piped, keys });
      // Same tick: one pipeline carries the GET, the two-bucket check and the one-bucket check.
      const [, combined, single] = await Promise.all([
        piped.get('lim:unrelated'),
        limiter.consumeAll('piped', [
          { key: 'u:a', rate: 1, burst: 1 },
          { key: 't', rate: 1, burst: 5 },
        ]),
        one(limiter, 'piped-single', 1, 1),
      ]);
      expect(combined).toEqual({ allowed: true, retryAfterMs: 0 });
      expect(single).toEqual({ allowed: true, retryAfterMs: 0 });
    } finally {
      piped.disconnect();
    }
  });

  it('lets the bucket key expire once it would be full again', async () => {
    const limiter = new RedisRateLimiter({ client: c1, keys });
    await one(limiter, 'short', 100, 10);
    const ttl = await c1.pttl(keys.rateBucket('acme', 'short'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1010);
  });
});

describe('RedisCounterStore', () => {
  it('caps members across instances and frees a place on release', async () => {
    const one = new RedisCounterStore({ client: c1, keys });
    const two = new RedisCounterStore({ client: c2, keys });
    const now = Date.now();
    expect(await one.acquire('conn:acme:alice', 'c1', 2, now)).toBe(true);
    expect(await two.acquire('conn:acme:alice', 'c2', 2, now)).toBe(true);
    expect(await one.acquire('conn:acme:alice', 'c3', 2, now)).toBe(false);
    // Holding already counts as acquired.
    expect(await two.acquire('conn:acme:alice', 'c1', 2, now)).toBe(true);
    await two.release('conn:acme:alice', 'c1');
    expect(await one.acquire('conn:acme:alice', 'c3', 2, now)).toBe(true);
    expect(await one.acquire('conn:acme:bob', 'c9', 0, now)).toBe(true);
  });

  it('stops counting members whose instance stopped touching them', async () => {
    const store = new RedisCounterStore({ client: c1, keys, staleMs: 1000 });
    const t0 = Date.now();
    expect(await store.acquire('conn:acme:carol', 'dead', 2, t0)).toBe(true);
    expect(await store.acquire('conn:acme:carol', 'alive', 2, t0)).toBe(true);
    await store.touch([{ key: 'conn:acme:carol', member: 'alive' }], t0 + 900);
    expect(await store.acquire('conn:acme:carol', 'new', 2, t0 + 500)).toBe(false);
    // 'dead' was last touched at t0: stale at t0 + 1500; 'alive' (t0 + 900) is not.
    expect(await store.acquire('conn:acme:carol', 'new', 2, t0 + 1500)).toBe(true);
    expect(await store.acquire('conn:acme:carol', 'other', 2, t0 + 1500)).toBe(false);
    // A released member is not brought back by a late touch.
    await store.release('conn:acme:carol', 'new');
    await store.touch([{ key: 'conn:acme:carol', member: 'new' }], t0 + 1600);
    expect(await c1.zscore(keys.counter('conn:acme:carol'), 'new')).toBeNull();
  });
});
