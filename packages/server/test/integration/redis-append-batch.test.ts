import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { createRedisEngine } from '../../src/engine/redis/engine.js';
import { KeySpace } from '../../src/engine/redis/keys.js';
import { luaSource } from '../../src/engine/redis/scripts.js';
import type { NewMessage, PublishLimits, RoomKey } from '../../src/engine/types.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const retention = { ttlSeconds: 3600, maxMessages: 20, dedupeWindowSeconds: 300 };
const key: RoomKey = { tenantId: 'acme', room: 'batched' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: RedisServer;
const clients: Redis[] = [];
const connect = () => {
  // As the server builds its command connection: auto-pipelined.
  const c = new Redis(server.port, '127.0.0.1', { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
});

/** Calls per command since the last CONFIG RESETSTAT, commands run by scripts included. */
async function commandCalls(admin: Redis): Promise<Record<string, number>> {
  const text = await admin.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

describe('persistent publishes of one turn on one Redis', () => {
  it('go to Redis as one script call with a PUBLISH per message, each naming the message before it', async () => {
    const admin = connect();
    const a = createRedisEngine({ client: connect(), subscriber: connect(), retention, presenceTimeoutMs: 60_000 });
    const b = createRedisEngine({ client: connect(), subscriber: connect(), retention, presenceTimeoutMs: 60_000 });
    const received: RoomMessage[] = [];
    b.stream.onMessage((_, m) => received.push(m));
    await b.stream.subscribe(key);
    // What the channel carries: each envelope's `p` is the id of the message before it, so a subscriber sees no gap.
    const raw = connect();
    const envelopes: { m: RoomMessage; p: string }[] = [];
    raw.on('message', (_, text: string) => envelopes.push(JSON.parse(text) as { m: RoomMessage; p: string }));
    await raw.subscribe(new KeySpace().channel(key));

    const limits = (i: number): PublishLimits => ({ group: 'acme', buckets: [{ key: `u:user-${i % 3}`, rate: 1000, burst: 1000 }, { key: 't', rate: 1000, burst: 1000 }] });
    const message = (i: number): NewMessage => ({ from: `user-${i % 3}`, payload: { i }, timestamp: Date.now(), clientMessageId: `cm-${i}` });
    const turn = (from: number, n: number) =>
      Promise.all(Array.from({ length: n }, (_, k) => a.stream.publish(key, message(from + k), { persistent: true, exceptConnectionId: `c-${from + k}`, limits: limits(from + k) })));
    // Loads both scripts (a lone message takes the single-message one) and fills the room past its cap.
    const warm = [...(await turn(0, 1)), ...(await turn(1, 24))];

    await admin.config('RESETSTAT');
    const published = await turn(100, 30);
    const calls = await commandCalls(admin);
    expect(calls.evalsha).toBe(1);
    expect(calls.eval).toBeUndefined();
    expect(calls.publish).toBe(30);
    // Shared by the 30 messages: one reading of the clock, of the room's meta hash and of each bucket, one ZADD.
    expect(calls.time).toBe(1);
    expect(calls.hmget).toBe(1);
    expect(calls.hset).toBe(1);
    expect(calls.zadd).toBe(1);
    // Trimmed with one ZCARD and one ZRANGE of two rows (the last member over the cap, the oldest kept), not
    // a ZRANGE of every member over the cap.
    expect(calls.zcard).toBe(1);
    expect(calls.zrange).toBe(1);
    expect(calls.zremrangebyrank).toBe(1);
    // Every duplicate-window key and bucket read in one MGET; per message its duplicate-window key's SET and its
    // PUBLISH; 3 users' buckets and the tenant's written once each.
    expect(calls.mget).toBe(1);
    expect(calls.get).toBeUndefined();
    expect(calls.set).toBe(30 + 4);

    const ids = published.map((p) => p.message.id);
    expect([...ids].sort()).toEqual(ids);
    const all = [...warm, ...published].map((p) => p.message.id);
    expect(await a.stream.read(key, { limit: 100 })).toMatchObject({ messages: published.slice(-20).map((p) => p.message), recovered: true });
    const deadline = Date.now() + 5000;
    while ((received.length < all.length || envelopes.length < all.length) && Date.now() < deadline) await sleep(20);
    expect(received.map((m) => m.id)).toEqual(all);
    expect(envelopes.map((e) => e.m.id)).toEqual(all);
    expect(envelopes.map((e) => e.p)).toEqual(['', ...all.slice(0, -1)]);

    // A deployment that lowers maxMessages: the next turn trims the room down to the new cap at once.
    const lowered = createRedisEngine({ client: connect(), fanOut: false, retention: { ...retention, maxMessages: 5 }, presenceTimeoutMs: 60_000 });
    const last = await Promise.all(Array.from({ length: 3 }, (_, k) => lowered.stream.publish(key, message(200 + k), { persistent: true })));
    const kept = [...published.slice(-2), ...last].map((p) => p.message.id);
    // Trimmed by the append itself, before any read (a read prunes too).
    const space = new KeySpace();
    expect(await admin.zcard(space.historyLog(key))).toBe(5);
    expect((await lowered.stream.read(key, { limit: 100 })).messages.map((m) => m.id)).toEqual(kept);
    expect((await lowered.stream.read(key, { since: published.at(-4)?.message.id as string, limit: 100 })).recovered).toBe(false);
    expect((await lowered.stream.read(key, { since: published.at(-3)?.message.id as string, limit: 100 })).recovered).toBe(true);
    await Promise.all([a.close(), b.close(), lowered.close()]);
  });

  it('drop the expired messages of a room in the same call', async () => {
    const admin = connect();
    const engine = createRedisEngine({ client: connect(), fanOut: false, retention: { ...retention, ttlSeconds: 1 }, presenceTimeoutMs: 60_000 });
    const room: RoomKey = { tenantId: 'acme', room: 'expiring' };
    const turn = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => engine.stream.publish(room, { from: 'u', payload: i, timestamp: Date.now() }, { persistent: true })));
    await turn(12);
    await sleep(1200);
    await turn(3);
    expect(await admin.zcard(new KeySpace().historyLog(room))).toBe(3);
    await engine.close();
  });
});

/** Holds Redis busy for `ms` (a script's loop): commands sent meanwhile queue and run in arrival order after it. */
const BUSY = `local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2]
repeat local t = redis.call('TIME') until t[1] * 1000000 + t[2] - t0 > tonumber(ARGV[1]) * 1000
return 1`;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('a room after Redis has lost its scripts (restart, failover)', () => {
  it('keeps publish order: no call is answered NOSCRIPT and retried after later calls that use scripts Redis still has', async () => {
    const admin = connect();
    const client = connect();
    const a = createRedisEngine({ client, subscriber: connect(), retention, presenceTimeoutMs: 60_000 });
    const room: RoomKey = { tenantId: 'acme', room: 'noscript' };
    const message = (i: number): NewMessage => ({ from: 'alice', payload: { i }, timestamp: Date.now() });
    const publish = (i: number) => a.stream.publish(room, message(i), { persistent: true });
    // Both append scripts used: a lone message takes the single-message one, a turn of several the batch one.
    await publish(0);
    await Promise.all([publish(1), publish(2)]);
    // Redis loses its scripts and the connection is made again (as after a restart or a failover);
    // another instance has loaded the single-message script again meanwhile.
    await admin.script('FLUSH');
    await admin.script('LOAD', luaSource('stream-append.lua'));
    const ready = new Promise((resolve) => client.once('ready', resolve));
    client.disconnect(true);
    await ready;
    // While Redis is busy, a turn of two publishes (the batch script) and, a turn later, a lone one
    // (the single script) queue in that order: they must run in that order.
    const busy = admin.eval(BUSY, 0, 300);
    await sleep(30);
    const first = Promise.all([publish(3), publish(4)]);
    await nextTurn();
    await nextTurn();
    const second = publish(5);
    await busy;
    const ids = [...(await first), await second].map((p) => p.message.id);
    expect([...ids].sort()).toEqual(ids);
    const stored = await a.stream.read(room, { limit: 10 });
    expect(stored.messages.map((m) => (m.payload as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5]);
    // Once run, the scripts are called by their SHA again.
    await admin.config('RESETSTAT');
    await Promise.all([publish(6), publish(7)]);
    await publish(8);
    const calls = await commandCalls(admin);
    expect(calls.evalsha).toBe(2);
    expect(calls.eval ?? 0).toBe(0);
  });
});
