import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoomKey } from '../../src/engine/types.js';
import { instance, redisClient, until, type TestInstance } from '../helpers/redis-clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const msg = (payload: unknown) => ({ from: 'alice', payload, timestamp: Date.now() });
const conn = (connectionId: string) => ({ connectionId, userId: 'alice', status: 'online' as const, serverId: 'srv-a' });

async function healthOf(inst: TestInstance) {
  return Promise.all(inst.engine.health.map(async (h) => ({ name: h.name, ...(await h.check()) })));
}

for (const sharded of [false, true]) {
  describe(`Redis engine when Redis goes away and comes back (${sharded ? 'SPUBLISH' : 'PUBLISH'})`, () => {
    let server: RedisServer;
    let a: TestInstance;
    let b: TestInstance;
    const key: RoomKey = { tenantId: 'acme', room: `outage-${sharded}` };

    beforeAll(async () => {
      server = await startRedisServer();
      a = instance({ client: redisClient(server.port), subscriber: redisClient(server.port), sharded });
      b = instance({ client: redisClient(server.port), subscriber: redisClient(server.port), sharded });
    });
    afterAll(async () => {
      await Promise.allSettled([a?.engine.close(), b?.engine.close()]);
      await server?.stop();
    });

    it('rejects operations while Redis is down and works again, subscriptions included, once it is back', async () => {
      await a.engine.stream.subscribe(key);
      const before = await b.engine.stream.publish(key, msg('before'), { persistent: true });
      await until(() => a.received.length === 1, 'delivery before the outage');
      expect((await healthOf(a)).every((h) => h.ok)).toBe(true);

      // Operations in flight when Redis dies settle (resolve or reject) instead of hanging.
      const inFlight = Array.from({ length: 20 }, (_, i) => b.engine.stream.publish(key, msg(`inflight-${i}`), { persistent: true }));
      await server.kill();
      const settled = await Promise.allSettled(inFlight);
      expect(settled).toHaveLength(20);

      await until(() => a.errors.length > 0 && b.errors.length > 0, 'connection errors reported to onError');
      await expect(b.engine.stream.publish(key, msg('down'), { persistent: true })).rejects.toThrow(/unavailable|Connection|closed/i);
      await expect(a.engine.stream.read(key, { limit: 10 })).rejects.toThrow(Error);
      await expect(a.engine.presence.join(key, conn('c1'), Date.now())).rejects.toThrow(Error);
      await expect(a.engine.presence.sweep(Date.now())).rejects.toThrow(Error);
      await expect(a.engine.rateLimiter.consumeAll('g', [{ key: 'k', rate: 1, burst: 1 }])).rejects.toThrow(Error);
      await expect(a.engine.counters.acquire('k', 'm', 1, Date.now())).rejects.toThrow(Error);
      await expect(a.engine.stream.subscribe({ tenantId: 'acme', room: 'other' })).rejects.toThrow(Error);
      const down = await healthOf(a);
      expect(down.find((h) => h.name === 'redis')).toMatchObject({ ok: false });
      expect(down.find((h) => h.name === 'redis-subscriber')).toMatchObject({ ok: false });

      // Back without persistence: the history is gone, which the new epoch reveals.
      const outageStarted = a.received.length;
      await server.restart();
      await until(async () => (await healthOf(a)).every((h) => h.ok) && (await healthOf(b)).every((h) => h.ok), 'reconnection');
      // The subscriber resubscribed by itself: probes published by B reach A.
      await until(async () => {
        await b.engine.stream.publish(key, msg('probe'), { persistent: false });
        return a.received.length > outageStarted;
      }, 'delivery after the restart');
      const after = await b.engine.stream.publish(key, msg('after'), { persistent: true });
      expect(after.message.id > before.message.id).toBe(true);
      const page = await a.engine.stream.read(key, { since: before.message.id, limit: 10 });
      expect(page.recovered).toBe(false);
      expect(page.messages.map((m) => m.payload)).toEqual(['after']);
      expect(await a.engine.rateLimiter.consumeAll('g', [{ key: 'k', rate: 1, burst: 1 }])).toEqual({ allowed: true, retryAfterMs: 0 });
      expect((await a.engine.presence.join(key, conn('c1'), Date.now())).kind).toBe('join');
      const up = await healthOf(a);
      expect(up.find((h) => h.name === 'redis')?.latencyMs).toBeGreaterThanOrEqual(0);
      // Deliveries stayed in id order across the outage.
      const ids = a.received.map((r) => r.msg.id);
      expect([...ids].sort()).toEqual(ids);
    });
  });
}

describe('Redis engine on a restarted Redis with append-only persistence', () => {
  let server: RedisServer;
  let a: TestInstance;
  beforeAll(async () => {
    server = await startRedisServer({ appendOnly: true });
    a = instance({ client: redisClient(server.port), subscriber: redisClient(server.port) });
  });
  afterAll(async () => {
    await a?.engine.close();
    await server?.stop();
  });

  it('recovers across the restart: same epoch, the sequence goes on', async () => {
    const key: RoomKey = { tenantId: 'acme', room: 'durable' };
    const first = await a.engine.stream.publish(key, msg('one'), { persistent: true });
    await server.restart();
    await until(async () => (await a.engine.health[0]?.check())?.ok === true, 'reconnection');
    const second = await a.engine.stream.publish(key, msg('two'), { persistent: true });
    expect(second.message.id.slice(-8)).toBe(first.message.id.slice(-8));
    const page = await a.engine.stream.read(key, { since: first.message.id, limit: 10 });
    expect(page).toMatchObject({ recovered: true, hasMore: false });
    expect(page.messages.map((m) => m.payload)).toEqual(['two']);
  });

  it('never hands out an id twice after Redis restarts from an older persisted state', async () => {
    const key: RoomKey = { tenantId: 'acme', room: 'restored' };
    await a.engine.stream.publish(key, msg('kept'), { persistent: true });
    // What a restore from an older backup (or an AOF missing its last writes) brings back.
    await server.pause();
    const backup = `${server.dir}-backup`;
    await cp(server.dir, backup, { recursive: true });
    await server.restart();
    await until(async () => (await a.engine.health[0]?.check())?.ok === true, 'reconnection');
    const later = await a.engine.stream.publish(key, msg('later'), { persistent: true });
    await server.pause();
    await rm(join(server.dir, 'appendonlydir'), { recursive: true, force: true });
    await cp(backup, server.dir, { recursive: true });
    await rm(backup, { recursive: true, force: true });
    await server.restart();
    await until(async () => (await a.engine.health[0]?.check())?.ok === true, 'reconnection to the restored state');
    const page = await a.engine.stream.read(key, { limit: 10 });
    expect(page.messages.map((m) => m.payload)).toEqual(['kept']);
    const after = await a.engine.stream.publish(key, msg('after'), { persistent: true });
    expect(after.message.id > later.message.id).toBe(true);
  });
});
