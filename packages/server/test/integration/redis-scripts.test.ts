import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRevocationStore } from '../../src/engine/redis/revocations.js';
import { KeySpace } from '../../src/engine/redis/keys.js';
import { redisClient } from '../helpers/redis-clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let client: Redis;
let admin: Redis;
let store: RedisRevocationStore;

/** EVALSHA / EVAL calls (and NOSCRIPT failures) made by `fn`, from INFO commandstats. */
async function scriptCallsOf(fn: () => Promise<unknown>): Promise<{ evalsha: number; eval: number; failed: number }> {
  await admin.config('RESETSTAT');
  await fn();
  const info = await admin.info('commandstats');
  const stat = (cmd: string, field: string) => Number(new RegExp(`^cmdstat_${cmd}:.*\\b${field}=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { evalsha: stat('evalsha', 'calls'), eval: stat('eval', 'calls'), failed: stat('evalsha', 'failed_calls') };
}

beforeAll(async () => {
  server = await startRedisServer();
  client = redisClient(server.port);
  admin = redisClient(server.port);
  store = new RedisRevocationStore({ client, keys: new KeySpace('scripts:') });
});

afterAll(async () => {
  client?.disconnect();
  admin?.disconnect();
  await server?.stop();
});

describe('Lua scripts on Redis: EVALSHA, EVAL once when the script cache is empty', () => {
  it('runs a cached script by its hash alone, and after SCRIPT FLUSH once by its text, with the same answers', async () => {
    const now = Date.now();
    await store.revoke('acme', 'warm', now, now + 60_000);
    // Cached: the hash alone.
    expect(await scriptCallsOf(() => store.revoke('acme', 'alice', now, now + 60_000))).toEqual({ evalsha: 1, eval: 0, failed: 0 });
    expect(await store.revokedBefore('acme', 'alice')).toBe(now);

    // The cache emptied under a live connection (SCRIPT FLUSH; after a restart or a failover the client
    // connects again and sends the text first, see redis-append-batch.test.ts): the hash fails with
    // NOSCRIPT, the text runs it and caches it again, and the caller sees only the answer.
    await admin.script('FLUSH');
    const later = now + 1000;
    expect(await scriptCallsOf(() => store.revoke('acme', 'bob', later, later + 60_000))).toEqual({ evalsha: 1, eval: 1, failed: 1 });
    expect(await store.revokedBefore('acme', 'bob')).toBe(later);
    expect(await scriptCallsOf(() => store.revoke('acme', 'carol', later, later + 60_000))).toEqual({ evalsha: 1, eval: 0, failed: 0 });
  });

  it('after SCRIPT FLUSH, every call of one turn falls back once and gets its own answer', async () => {
    const now = Date.now();
    await admin.script('FLUSH');
    const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
    const calls = await scriptCallsOf(() => Promise.all(users.map((u, i) => store.revoke('acme', u, now + i, now + 60_000))));
    expect(calls.failed).toBe(calls.eval);
    expect(calls.evalsha).toBe(10);
    expect(await Promise.all(users.map((u) => store.revokedBefore('acme', u)))).toEqual(users.map((_, i) => now + i));
  });
});
