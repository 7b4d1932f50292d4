import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisConnectionRegistry } from '../../src/engine/redis/connections.js';
import { KeySpace } from '../../src/engine/redis/keys.js';
import { RedisRevocationStore } from '../../src/engine/redis/revocations.js';
import type { ConnectionRecord } from '../../src/engine/types.js';
import { redisClient } from '../helpers/redis-clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let client: Redis;
let admin: Redis;
let registry: RedisConnectionRegistry;
let revocations: RedisRevocationStore;
const keys = new KeySpace('batch:');
let round = 0;

/** Calls per command since the last CONFIG RESETSTAT, from INFO commandstats (`cmdstat_evalsha:calls=3,...`). */
async function commandCalls(): Promise<Record<string, number>> {
  const info = await admin.info('commandstats');
  const calls: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1] as string] = Number(m[2]);
  return calls;
}

/**
 * The script calls (EVALSHA, EVAL) made by `fn`. INFO commandstats also counts the commands a script
 * runs, so those are left out.
 */
async function scriptCallsOf(fn: () => Promise<unknown>): Promise<Record<string, number>> {
  await admin.config('RESETSTAT');
  await fn();
  const calls = await commandCalls();
  return Object.fromEntries(Object.entries(calls).filter(([cmd]) => cmd.startsWith('eval')));
}

const rec = (i: number, user = `u${i}`): ConnectionRecord => ({ tenantId: `t${round}`, userId: user, connectionId: `c${i}`, serverId: 'srv', connectedAt: 1_700_000_000_000 + i });

beforeAll(async () => {
  server = await startRedisServer();
  client = redisClient(server.port);
  admin = redisClient(server.port);
  registry = new RedisConnectionRegistry({ client, keys });
  revocations = new RedisRevocationStore({ client, keys });
  // Every script once, so the counted calls are EVALSHA only (the first call of a script falls back to EVAL).
  const now = Date.now();
  await Promise.all([registry.acquire(rec(1), 0, now, { issuedAt: now }), registry.acquire(rec(2), 0, now)]);
  await registry.acquire(rec(3), 0, now, { issuedAt: now });
  await registry.acquire(rec(4), 0, now);
  await Promise.all([registry.release(rec(1), now), registry.release(rec(2), now)]);
  await registry.release(rec(3), now);
});

afterAll(async () => {
  client?.disconnect();
  admin?.disconnect();
  await server?.stop();
});

beforeEach(() => {
  round++;
});

describe('connection registry on one Redis: one script call per event-loop turn', () => {
  it('registers N connections of one turn, the revocation check included, in ONE script call; and releases them in one', async () => {
    const N = 40;
    const now = Date.now();
    // One of the users has its tokens revoked: refused in the same call.
    await revocations.revoke(`t${round}`, 'u7', now, now + 60_000);
    let results: Awaited<ReturnType<RedisConnectionRegistry['acquire']>>[] = [];
    const acquireCalls = await scriptCallsOf(async () => {
      results = await Promise.all(Array.from({ length: N }, (_, i) => registry.acquire(rec(i), 2, now, { issuedAt: now - 1000 })));
    });
    expect(acquireCalls).toEqual({ evalsha: 1 });
    expect(results.filter((r) => r.held)).toHaveLength(N - 1);
    expect(results[7]).toEqual({ held: false, first: false, revoked: true });
    expect(await registry.list(`t${round}`, 'u7', now)).toEqual([]);

    let released: { last: boolean }[] = [];
    const releaseCalls = await scriptCallsOf(async () => {
      released = await Promise.all(Array.from({ length: N }, (_, i) => registry.release(rec(i), now)));
    });
    expect(releaseCalls).toEqual({ evalsha: 1 });
    expect(released.every((r) => r.last)).toBe(true);
  });

  it('splits a turn past 64 connections into calls of at most 64', async () => {
    const now = Date.now();
    const calls = await scriptCallsOf(() => Promise.all(Array.from({ length: 150 }, (_, i) => registry.acquire(rec(i), 0, now, { issuedAt: now }))));
    expect(calls).toEqual({ evalsha: 3 });
  });

  it('makes one call per turn: acquires of separate turns are separate calls', async () => {
    const now = Date.now();
    const calls = await scriptCallsOf(async () => {
      for (let i = 0; i < 3; i++) await registry.acquire(rec(i), 0, now, { issuedAt: now });
    });
    expect(calls).toEqual({ evalsha: 3 });
  });
});
