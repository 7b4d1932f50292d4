import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoomKey } from '../../src/engine/types.js';
import { instance, redisClient, until, type TestInstance } from '../helpers/redis-clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

let seq = 0;
const room = (): RoomKey => ({ tenantId: 'acme', room: `gap-${process.pid}-${++seq}` });
const msg = (payload: unknown) => ({ from: 'alice', payload, timestamp: Date.now() });

/**
 * A message an instance did not receive through pub/sub (its subscriber was
 * away) is read from history and delivered before the next one, in id order.
 */
describe('RedisBroker gap filling', () => {
  let redis: RedisServer;
  let a: TestInstance;
  beforeAll(async () => {
    redis = await startRedisServer({ appendOnly: true });
    a = instance({ client: redisClient(redis.port) });
  });
  afterAll(async () => {
    await a.engine.close();
    await redis.stop();
  });
  const ids = (key: RoomKey) => a.received.filter((r) => r.key.room === key.room).map((r) => r.msg.id);

  it('delivers persistent messages it missed before the message that reveals the gap', async () => {
    const key = room();
    await a.engine.broker.subscribe(key);
    const first = await a.engine.broker.publish(key, msg('first'), { persistent: true });
    await until(() => ids(key).length === 1, 'first message');
    // Appended without publishing: what an instance misses while its subscriber is disconnected.
    const missed = [];
    for (let i = 0; i < 3; i++) missed.push(await a.engine.history.append(key, msg(`missed-${i}`), { persistent: true }));
    const next = await a.engine.broker.publish(key, msg('next'), { persistent: false });
    await until(() => ids(key).length === 5, 'the missed messages and the next one');
    expect(ids(key)).toEqual([first, ...missed, next].map((r) => r.message.id));
  });

  it('delivers past a gap that history cannot fill (volatile messages it missed) and reads history once for it', async () => {
    const key = room();
    await a.engine.broker.subscribe(key);
    const first = await a.engine.broker.publish(key, msg('first'), { persistent: true });
    await until(() => ids(key).length === 1, 'first message');
    // Volatile messages get ids but are not stored: missed live, they are gone for good.
    for (let i = 0; i < 3; i++) await a.engine.history.append(key, msg(`lost-${i}`), { persistent: false });
    const reads = a.engine.history as unknown as { read: (...args: unknown[]) => Promise<unknown> };
    const read = reads.read.bind(a.engine.history);
    let count = 0;
    reads.read = (...args: unknown[]) => {
      count++;
      return read(...args);
    };
    try {
      const next = await a.engine.broker.publish(key, msg('next'), { persistent: false });
      const last = await a.engine.broker.publish(key, msg('last'), { persistent: true });
      await until(() => ids(key).length === 3, 'the messages after the gap');
      expect(ids(key)).toEqual([first.message.id, next.message.id, last.message.id]);
      expect(count).toBe(1);
    } finally {
      reads.read = read;
    }
  });

  it('fills what was published while the subscriber was disconnected once it is back', async () => {
    const key = room();
    await a.engine.broker.subscribe(key);
    const first = await a.engine.broker.publish(key, msg('before'), { persistent: true });
    await until(() => ids(key).length === 1, 'first message');
    const sub = (a.engine.broker as unknown as { subscriber: { disconnect(reconnect: boolean): void } }).subscriber;
    sub.disconnect(true);
    const during = await a.engine.broker.publish(key, msg('during'), { persistent: true });
    await until(() => ids(key).length === 2, 'the message published while disconnected', 10_000);
    expect(ids(key)).toEqual([first.message.id, during.message.id]);
  });

  it('never hands out an id twice after Redis restarts from an older persisted state', async () => {
    const key = room();
    const before = await a.engine.history.append(key, msg('kept'), { persistent: true });
    const admin = redisClient(redis.port);
    // A restart from an AOF without its last second (appendfsync everysec): the sequence goes back.
    const metaKeys = await admin.keys(`*${key.room}*meta*`);
    expect(metaKeys.length).toBe(1);
    const seqBefore = Number(before.message.id.split('-')[0]);
    await admin.hset(metaKeys[0] as string, 'seq', String(seqBefore - 1_000_000));
    admin.disconnect();
    const after = await a.engine.history.append(key, msg('new'), { persistent: true });
    expect(after.message.id > before.message.id).toBe(true);
  });
});
