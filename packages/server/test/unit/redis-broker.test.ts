import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateRefusedError } from '../../src/engine/limits.js';
import { LocalBroker } from '../../src/engine/local-broker.js';
import { createMemoryEngine } from '../../src/engine/memory/engine.js';
import type { Broker, HistoryStore, RateLimiter, RoomKey } from '../../src/engine/types.js';
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { clusterClient, instance, redisClient, retention, until, type TestInstance } from '../helpers/redis-clients.js';
import { startRedisCluster, startRedisServer, type RedisClusterHandle, type RedisServer } from '../helpers/redis-server.js';

let seq = 0;
const room = (): RoomKey => ({ tenantId: 'acme', room: `b-${process.pid}-${++seq}` });
const msg = (payload: unknown, clientMessageId?: string) => ({
  from: 'alice',
  payload,
  timestamp: Date.now(),
  ...(clientMessageId ? { clientMessageId } : {}),
});
const idsIn = (inst: TestInstance, key: RoomKey) =>
  inst.received.filter((r) => r.key.tenantId === key.tenantId && r.key.room === key.room).map((r) => r.msg.id);

/** What a publisher of one deployment shape is made of, for the rate-limit cases. */
interface LimitsContext {
  publisher: Broker;
  history: HistoryStore;
  limiter: RateLimiter;
  /** Messages of `key` delivered to a subscribed instance (the publisher's own or another). */
  delivered(key: RoomKey): string[];
  subscribe(key: RoomKey): Promise<void>;
}

/** `Broker.publish` with `limits`: taken with the append (one script on a single Redis), or before it. */
function limitsCases(ctx: () => LimitsContext) {
  it('takes rate limits with the publish: a refused message is not stored, delivered or charged to the other bucket', async () => {
    const { publisher, history, limiter, delivered, subscribe } = ctx();
    const key = room();
    await subscribe(key);
    const group = `g-${process.pid}-${++seq}`;
    // Refill at one token per 1,000 s: nothing comes back during the test.
    const buckets = (user: string, userBurst: number) => ({ group, buckets: [{ key: `u:${user}`, rate: 0.001, burst: userBurst }, { key: 't', rate: 0.001, burst: 3 }] });
    const send = (from: string, text: string, userBurst: number) => publisher.publish(key, { ...msg(text), from }, { persistent: true, limits: buckets(from, userBurst) });
    const refusal = (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => err);

    const one = await send('alice', 'one', 2);
    const two = await send('alice', 'two', 2);
    const userShort = await refusal(send('alice', 'three', 2));
    expect(userShort).toBeInstanceOf(RateRefusedError);
    expect((userShort as RateRefusedError).decision).toMatchObject({ allowed: false, refusedBy: 0 });
    expect((userShort as RateRefusedError).decision.retryAfterMs).toBeGreaterThan(900_000);
    // The tenant's bucket lost nothing to that refusal: its third token goes to bob.
    const bob = await send('bob', 'bob', 5);
    const tenantShort = await refusal(send('carol', 'carol', 5));
    expect((tenantShort as RateRefusedError).decision).toMatchObject({ allowed: false, refusedBy: 1 });
    // Carol's bucket was not charged by the tenant's refusal either.
    expect((await limiter.consumeAll(group, [{ key: 'u:carol', rate: 0.001, burst: 5, cost: 5 }])).allowed).toBe(true);
    // The buckets are the rate limiter's own: the tenant's is empty for it too.
    expect((await limiter.consumeAll(group, [{ key: 't', rate: 0.001, burst: 3 }])).allowed).toBe(false);

    const ids = [one, two, bob].map((r) => r.message.id);
    expect((await history.read(key, { limit: 10 })).messages.map((m: RoomMessage) => m.id)).toEqual(ids);
    await until(() => delivered(key).length === 3, 'the three allowed messages');
    await new Promise((r) => setTimeout(r, 100));
    expect(delivered(key)).toEqual(ids);
    // Buckets with a rate of 0 limit nothing.
    await publisher.publish(key, msg('free'), { persistent: false, limits: { group, buckets: [{ key: 't', rate: 0, burst: 0 }] } });
    await until(() => delivered(key).length === 4, 'the unlimited message');
  });
}

/** The broker behaviour every deployment shape must have, on two instances A and B. */
function brokerSuite(name: string, setup: () => Promise<{ a: TestInstance; b: TestInstance; close(): Promise<void> }>) {
  describe(`RedisBroker: ${name}`, () => {
    let a: TestInstance;
    let b: TestInstance;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ a, b, close } = await setup());
    });
    afterAll(async () => close?.());

    it('delivers every message to both instances in id order under concurrent publishers', async () => {
      const key = room();
      await Promise.all([a.engine.broker.subscribe(key), b.engine.broker.subscribe(key)]);
      const N = 150;
      const published = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          (i % 2 === 0 ? a : b).engine.broker.publish(key, msg(i), { persistent: i % 3 === 0, exceptConnectionId: `conn-${i}` }),
        ),
      );
      const all = published.map((p) => p.message.id).sort();
      await until(() => idsIn(a, key).length === N && idsIn(b, key).length === N, 'all messages on both instances');
      expect(idsIn(a, key)).toEqual(all);
      expect(idsIn(b, key)).toEqual(all);
      const sample = a.received.find((r) => r.msg.payload === 3);
      expect(sample).toMatchObject({ key, except: 'conn-3', msg: { room: key.room, from: 'alice', persistent: true } });
      // Persistent ones were stored by the same script.
      const stored = await a.engine.history.read(key, { limit: 1000 });
      expect(stored.messages.map((m) => m.id)).toEqual(published.filter((p) => p.message.persistent).map((p) => p.message.id).sort());
    });

    it('delivers only rooms an instance subscribed to, and keeps tenants apart', async () => {
      const r1 = room();
      const r2 = room();
      const otherTenant: RoomKey = { tenantId: 'globex', room: r1.room };
      await a.engine.broker.subscribe(r1);
      await b.engine.broker.subscribe(r2);
      await b.engine.broker.publish(r1, msg('one'), { persistent: false });
      await a.engine.broker.publish(r2, msg('two'), { persistent: false });
      await a.engine.broker.publish(otherTenant, msg('other'), { persistent: false });
      await until(() => idsIn(a, r1).length === 1 && idsIn(b, r2).length === 1, 'one message each');
      await new Promise((r) => setTimeout(r, 100));
      expect(idsIn(a, r2)).toEqual([]);
      expect(idsIn(b, r1)).toEqual([]);
      expect(idsIn(a, otherTenant)).toEqual([]);
    });

    it('counts subscriptions: the last unsubscribe stops delivery', async () => {
      const key = room();
      await a.engine.broker.subscribe(key);
      await a.engine.broker.subscribe(key);
      await a.engine.broker.unsubscribe(key);
      await b.engine.broker.publish(key, msg('still'), { persistent: false });
      await until(() => idsIn(a, key).length === 1, 'delivery after one of two unsubscribes');
      await a.engine.broker.unsubscribe(key);
      await b.engine.broker.publish(key, msg('gone'), { persistent: false });
      await new Promise((r) => setTimeout(r, 150));
      expect(idsIn(a, key)).toHaveLength(1);
      // A further unsubscribe is harmless; subscribing again resumes delivery.
      await a.engine.broker.unsubscribe(key);
      await a.engine.broker.subscribe(key);
      await b.engine.broker.publish(key, msg('back'), { persistent: false });
      await until(() => idsIn(a, key).length === 2, 'delivery after subscribing again');
    });

    limitsCases(() => ({
      publisher: a.engine.broker,
      history: a.engine.history,
      limiter: a.engine.rateLimiter,
      delivered: (key) => idsIn(b, key),
      subscribe: (key) => b.engine.broker.subscribe(key),
    }));

    it('does not publish a duplicate clientMessageId again', async () => {
      const key = room();
      await b.engine.broker.subscribe(key);
      const first = await a.engine.broker.publish(key, msg('x', 'cm-1'), { persistent: true });
      const again = await a.engine.broker.publish(key, msg('x', 'cm-1'), { persistent: true });
      expect(again).toEqual({ message: first.message, duplicate: true });
      await b.engine.broker.publish(key, msg('marker'), { persistent: false });
      await until(() => idsIn(b, key).length === 2, 'first message and marker');
      await new Promise((r) => setTimeout(r, 100));
      expect(idsIn(b, key)[0]).toBe(first.message.id);
      expect(idsIn(b, key)).toHaveLength(2);
    });
  });
}

let server: RedisServer;
let cluster: RedisClusterHandle;

beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedisServer(), startRedisCluster()]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop()]);
});

const standalone = (sharded: boolean) => async () => {
  const a = instance({ client: redisClient(server.port), subscriber: redisClient(server.port), sharded, keyPrefix: `s${sharded}:` });
  const b = instance({ client: redisClient(server.port), sharded, keyPrefix: `s${sharded}:` });
  return { a, b, close: async () => void (await Promise.all([a.engine.close(), b.engine.close()])) };
};

brokerSuite('standalone, PUBLISH', standalone(false));
brokerSuite('standalone, SPUBLISH', standalone(true));
brokerSuite('cluster, SPUBLISH', async () => {
  // A: one Cluster for commands and sharded subscriptions; B: a subscriber duplicated by the engine.
  const shared = clusterClient(cluster.startupNodes, true);
  const a = instance({ client: shared, subscriber: shared, sharded: true });
  const b = instance({ client: clusterClient(cluster.startupNodes), sharded: true });
  return { a, b, close: async () => void (await Promise.all([a.engine.close(), b.engine.close()])) };
});
brokerSuite('cluster, PUBLISH', async () => {
  const a = instance({ client: clusterClient(cluster.startupNodes), keyPrefix: 'plain:' });
  const b = instance({ client: clusterClient(cluster.startupNodes), keyPrefix: 'plain:' });
  return { a, b, close: async () => void (await Promise.all([a.engine.close(), b.engine.close()])) };
});

/** The local broker (one instance, or CLUSTERING_ENABLED=false) over each history store. */
function localSuite(name: string, setup: () => Promise<{ history: HistoryStore; limiter: RateLimiter; close(): Promise<void> }>) {
  describe(`LocalBroker: ${name}`, () => {
    let parts: { history: HistoryStore; limiter: RateLimiter; close(): Promise<void> };
    let broker: LocalBroker;
    const received: { key: RoomKey; id: string }[] = [];
    beforeAll(async () => {
      parts = await setup();
      broker = new LocalBroker(parts.history, parts.limiter);
      broker.onMessage((key, m) => received.push({ key, id: m.id }));
    });
    afterAll(async () => parts?.close());

    limitsCases(() => ({
      publisher: broker,
      history: parts.history,
      limiter: parts.limiter,
      delivered: (key) => received.filter((r) => r.key.room === key.room).map((r) => r.id),
      subscribe: async () => {},
    }));
  });
}

localSuite('memory', async () => {
  const engine = createMemoryEngine({ retention, presenceTimeoutMs: 60_000 });
  return { history: engine.history, limiter: engine.rateLimiter, close: () => engine.close() };
});
localSuite('Redis', async () => {
  const { engine } = instance({ client: redisClient(server.port), keyPrefix: 'local:' });
  expect(engine.history.takesLimits).toBe(true);
  return { history: engine.history, limiter: engine.rateLimiter, close: () => engine.close() };
});
localSuite('Redis Cluster', async () => {
  const { engine } = instance({ client: clusterClient(cluster.startupNodes), keyPrefix: 'localc:' });
  expect(engine.history.takesLimits).toBe(false);
  return { history: engine.history, limiter: engine.rateLimiter, close: () => engine.close() };
});
