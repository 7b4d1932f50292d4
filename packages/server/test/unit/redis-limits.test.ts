import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnectionRegistry } from '../../src/engine/redis/connections.js';
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

describe('RedisConnectionRegistry', () => {
  const rec = (connectionId: string, userId: string, serverId: string) => ({ tenantId: 'acme', userId, connectionId, serverId, connectedAt: 1 });

  it('caps a user\'s connections across instances and frees a place on release', async () => {
    const one = new RedisConnectionRegistry({ client: c1, keys });
    const two = new RedisConnectionRegistry({ client: c2, keys });
    const now = Date.now();
    expect(await one.acquire(rec('c1', 'alice', 'a'), 2, now)).toEqual({ held: true, first: true });
    expect(await two.acquire(rec('c2', 'alice', 'b'), 2, now)).toEqual({ held: true, first: false });
    expect((await one.acquire(rec('c3', 'alice', 'a'), 2, now)).held).toBe(false);
    expect((await two.list('acme', 'alice', now)).map((r) => r.serverId).sort()).toEqual(['a', 'b']);
    expect(await two.release(rec('c1', 'alice', 'a'), now)).toEqual({ last: false });
    expect((await one.acquire(rec('c3', 'alice', 'a'), 2, now)).held).toBe(true);
    expect(await one.acquire(rec('c9', 'bob', 'a'), 0, now)).toEqual({ held: true, first: true });
  });

  it('stops counting connections whose instance stopped refreshing them, and leaves nothing behind', async () => {
    const registry = new RedisConnectionRegistry({ client: c1, keys, staleMs: 1000 });
    const t0 = Date.now();
    expect((await registry.acquire(rec('dead', 'carol', 'x'), 2, t0)).held).toBe(true);
    expect((await registry.acquire(rec('alive', 'carol', 'y'), 2, t0)).held).toBe(true);
    await registry.touch([rec('alive', 'carol', 'y')], t0 + 900);
    expect((await registry.acquire(rec('new', 'carol', 'y'), 2, t0 + 500)).held).toBe(false);
    // 'dead' was last refreshed at t0: stale at t0 + 1500, and pruned from both keys by the next write.
    expect((await registry.acquire(rec('new', 'carol', 'y'), 2, t0 + 1500)).held).toBe(true);
    expect(await c1.hkeys(keys.userRecords('acme', 'carol'))).toEqual(expect.arrayContaining(['alive', 'new']));
    expect(await c1.hexists(keys.userRecords('acme', 'carol'), 'dead')).toBe(0);
    // Both keys expire: a user whose instances all died leaves nothing for good.
    expect(await c1.pttl(keys.userConnections('acme', 'carol'))).toBeGreaterThan(0);
    expect(await c1.pttl(keys.userRecords('acme', 'carol'))).toBeGreaterThan(0);
  });
});
