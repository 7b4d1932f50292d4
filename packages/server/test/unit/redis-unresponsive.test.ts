import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoomKey } from '../../src/engine/types.js';
import { instance, redisClient, until, type TestInstance } from '../helpers/redis-clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const msg = (payload: unknown) => ({ from: 'alice', payload, timestamp: Date.now() });

/**
 * Redis that stops answering without closing the connection (a partition, a
 * frozen host): nothing tells ioredis, so its commands would wait for good.
 * A's command connection goes through a proxy that can go silent; its
 * subscriber and B connect directly.
 */
describe('Redis engine when Redis stops answering on the command connection', () => {
  let server: RedisServer;
  let proxy: TcpProxy;
  let a: TestInstance;
  let b: TestInstance;
  const key: RoomKey = { tenantId: 'acme', room: 'silent' };

  /** A's history reads that ended (answered, failed or past the deadline), from the engine's latency hook. */
  const readsEnded: number[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    proxy = await startTcpProxy(server.port);
    a = instance({
      client: redisClient(proxy.port),
      subscriber: redisClient(server.port),
      commandTimeoutMs: 300,
      observe: (op, ms) => {
        if (op === 'stream.read') readsEnded.push(ms);
      },
    });
    b = instance({ client: redisClient(server.port), subscriber: redisClient(server.port) });
  });
  afterAll(async () => {
    proxy?.thaw();
    await Promise.allSettled([a?.engine.close(), b?.engine.close()]);
    await proxy?.close();
    await server?.stop();
  });

  it('fails each operation with REDIS_UNAVAILABLE past the deadline, keeps delivering, and works again once Redis answers', async () => {
    await a.engine.stream.subscribe(key);
    const first = await b.engine.stream.publish(key, msg('one'), { persistent: true });
    await until(() => a.received.length === 1, 'delivery before the silence');

    proxy.freeze();
    await expect(a.engine.stream.read(key, { limit: 10 })).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });
    await expect(a.engine.stream.publish(key, msg('lost'), { persistent: true })).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });
    await expect(a.engine.presence.list(key, Date.now())).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });

    // A's subscriber reconnects: A reads from history what it may have missed, and that read gets no answer.
    // Messages arriving meanwhile wait for the read; once the read has failed (past the deadline) they are delivered.
    const readsBefore = readsEnded.length;
    const admin = new Redis(server.port, '127.0.0.1');
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    admin.disconnect();
    await until(() => readsEnded.slice(readsBefore).some((ms) => ms >= 300), 'the gap fill after the subscriber reconnected, given up past the deadline');
    await until(async () => {
      // B's own subscriber may still be reconnecting: publish until A has something.
      await b.engine.stream.publish(key, msg('during'), { persistent: true });
      return a.received.some((r) => r.msg.payload === 'during');
    }, 'delivery while the command connection is silent');

    proxy.thaw();
    await until(async () => {
      try {
        const page = await a.engine.stream.read(key, { since: first.message.id, limit: 100 });
        return page.messages.length > 0;
      } catch {
        return false;
      }
    }, 'a history read once Redis answers again');
    const last = await a.engine.stream.publish(key, msg('after'), { persistent: true });
    await until(() => a.received.some((r) => r.msg.id === last.message.id), 'delivery after the silence');
    const ids = a.received.map((r) => r.msg.id);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
