import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeySpace } from '../../src/engine/redis/keys.js';
import type { RoomKey } from '../../src/engine/types.js';
import { clusterClient, instance, until, type TestInstance } from '../helpers/redis-clients.js';
import { handOver, startRedisCluster, type RedisClusterHandle } from '../helpers/redis-server.js';

const msg = (payload: unknown) => ({ from: 'alice', payload, timestamp: Date.now() });

/** A private Cluster for the enclosing suite, with two sharded engines on it: A subscribes, B publishes. */
function clusterWithTwoInstances(): { cluster: RedisClusterHandle; a: TestInstance; b: TestInstance } {
  const ctx = {} as { cluster: RedisClusterHandle; a: TestInstance; b: TestInstance };
  beforeAll(async () => {
    ctx.cluster = await startRedisCluster();
    ctx.a = instance({ client: clusterClient(ctx.cluster.startupNodes), sharded: true });
    ctx.b = instance({ client: clusterClient(ctx.cluster.startupNodes), sharded: true });
  });
  afterAll(async () => {
    await Promise.allSettled([ctx.a?.engine.close(), ctx.b?.engine.close()]);
    await ctx.cluster?.stop();
  });
  return ctx;
}

/** The port of the master serving `key`'s channel, and of its replica. */
async function slotNodes(cluster: RedisClusterHandle, key: RoomKey): Promise<{ slot: number; master: number; replica: number }> {
  const probe = cluster.nodes[0];
  if (!probe) throw new Error('no node');
  const { Redis } = await import('ioredis');
  const admin = new Redis(probe.port, '127.0.0.1');
  try {
    const slot = (await admin.call('CLUSTER', 'KEYSLOT', new KeySpace().channel(key))) as number;
    const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
    const owner = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)?.[2];
    if (!owner) throw new Error(`no master for slot ${slot}`);
    // CLUSTER SLOTS leaves out replicas that have not replicated anything yet: ask for the master's replicas.
    const replicas = (await admin.call('CLUSTER', 'REPLICAS', owner[2])) as string[];
    const port = Number(/:(\d+)@/.exec(replicas[0] ?? '')?.[1]);
    if (!port) throw new Error(`no replica for slot ${slot}: ${JSON.stringify(replicas)}`);
    return { slot, master: owner[1], replica: port };
  } finally {
    admin.disconnect();
  }
}

describe('Redis engine on a Cluster whose master hands its slots to its replica (CLUSTER FAILOVER)', () => {
  const ctx = clusterWithTwoInstances();

  it('keeps delivering a room, in id order, once the former replica serves its slot', async () => {
    const { cluster, a, b } = ctx;
    const key: RoomKey = { tenantId: 'acme', room: 'handover' };
    await a.engine.stream.subscribe(key);
    await b.engine.stream.publish(key, msg('before'), { persistent: true });
    await until(() => a.received.length === 1, 'delivery before the handover');

    // The old master stays up as a replica: no connection drops, so nothing but the slot map tells that the room moved.
    const { master, replica } = await slotNodes(cluster, key);
    await handOver(replica);

    const before = a.received.length;
    let published = 0;
    await until(async () => {
      await b.engine.stream.publish(key, msg('probe'), { persistent: false }).then(() => published++, () => {});
      return a.received.length > before;
    }, `delivery after the handover (master ${master} -> ${replica})`, 30_000);
    const last = await b.engine.stream.publish(key, msg('after'), { persistent: true });
    await until(() => a.received.some((r) => r.msg.id === last.message.id), 'the last message');
    const ids = a.received.map((r) => r.msg.id);
    expect([...ids].sort()).toEqual(ids);
    expect(published).toBeGreaterThan(0);
  }, 90_000);

  it('keeps delivering a room, in id order, once its slot has been migrated to another master (resharding)', async () => {
    const { cluster, a, b } = ctx;
    const key: RoomKey = { tenantId: 'acme', room: 'reshard' };
    await a.engine.stream.subscribe(key);
    const first = await b.engine.stream.publish(key, msg('before'), { persistent: true });
    await until(() => a.received.some((r) => r.msg.id === first.message.id), 'delivery before the migration');

    const { slot, master: from } = await slotNodes(cluster, key);
    const { Redis } = await import('ioredis');
    const source = new Redis(from, '127.0.0.1');
    const ranges = (await source.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const to = ranges.map((r) => r[2][1]).find((port) => port !== from) as number;
    const target = new Redis(to, '127.0.0.1');
    const others = ranges.map((r) => r[2][1]).filter((port) => port !== from && port !== to).map((port) => new Redis(port, '127.0.0.1'));
    try {
      // The documented steps of a slot migration, as redis-cli --cluster reshard takes them.
      const sourceId = (await source.call('CLUSTER', 'MYID')) as string;
      const targetId = (await target.call('CLUSTER', 'MYID')) as string;
      await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
      await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
      for (;;) {
        const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
        if (keys.length === 0) break;
        await source.call('MIGRATE', '127.0.0.1', to, '', 0, 5000, 'KEYS', ...keys);
      }
      for (const node of [target, source, ...others]) await node.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
    } finally {
      for (const node of [source, target, ...others]) node.disconnect();
    }

    const before = a.received.length;
    await until(async () => {
      await b.engine.stream.publish(key, msg('probe'), { persistent: false }).catch(() => {});
      return a.received.length > before;
    }, `delivery after slot ${slot} moved from ${from} to ${to}`, 30_000);
    const last = await b.engine.stream.publish(key, msg('after'), { persistent: true });
    await until(() => a.received.some((r) => r.msg.id === last.message.id), 'the last message');
    const ids = a.received.filter((r) => r.key.room === key.room).map((r) => r.msg.id);
    expect([...ids].sort()).toEqual(ids);
    // The room's history moved with its slot.
    const page = await a.engine.stream.read(key, { since: first.message.id, limit: 10 });
    expect(page.recovered).toBe(true);
    expect(page.messages.at(-1)?.id).toBe(last.message.id);
  }, 60_000);
});

describe('Redis engine on a Cluster whose master fails over', () => {
  const ctx = clusterWithTwoInstances();

  it('delivers a room again, in id order, once a replica has taken over its slot', async () => {
    const { cluster, a, b } = ctx;
    const key: RoomKey = { tenantId: 'acme', room: 'failover' };
    await a.engine.stream.subscribe(key);
    const first = await b.engine.stream.publish(key, msg('before'), { persistent: true });
    await until(() => a.received.length === 1, 'delivery before the failover');

    // The master serving the room's slot.
    const probe = cluster.nodes[0];
    if (!probe) throw new Error('no node');
    const { Redis } = await import('ioredis');
    const admin = new Redis(probe.port, '127.0.0.1');
    const slot = (await admin.call('CLUSTER', 'KEYSLOT', new KeySpace().channel(key))) as number;
    const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    admin.disconnect();
    const owner = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)?.[2][1];
    const victim = cluster.nodes.find((n) => n.port === owner);
    if (!victim) throw new Error('slot owner not found');
    const started = Date.now();
    await victim.kill();

    // Publishing fails or succeeds while the replica is promoted; once it succeeds and A receives, the subscription is back.
    const before = a.received.length;
    let published = 0;
    let lastError = '';
    await until(async () => {
      await b.engine.stream.publish(key, msg('probe'), { persistent: false }).then(
        () => published++,
        (e: Error) => (lastError = e.message),
      );
      return a.received.length > before;
    }, 'delivery after the failover', 45_000).catch(async (err: Error) => {
      // Say what the cluster looked like, so that a failover that never happened is told from a client that did not follow it.
      const live = cluster.nodes.find((n) => n !== victim);
      const view = live ? new Redis(live.port, '127.0.0.1') : undefined;
      const nodes = await view?.call('CLUSTER', 'NODES').catch((e: Error) => e.message);
      view?.disconnect();
      const subs = await Promise.all(
        cluster.nodes
          .filter((n) => n !== victim)
          .map(async (n) => {
            const r = new Redis(n.port, '127.0.0.1');
            const ch = await r.call('PUBSUB', 'SHARDCHANNELS').catch((e: Error) => e.message);
            r.disconnect();
            return `${n.port}: ${JSON.stringify(ch)}`;
          }),
      );
      const state = `${a.engine.stream.subscribedRooms()} rooms subscribed, ${a.received.length} messages delivered`;
      throw new Error(`${err.message}; ${published} probes published (last error: ${lastError || 'none'}); slot ${slot}; instance A: ${state}; shard channels: ${subs.join(' | ')}; cluster nodes seen from ${live?.port}:\n${String(nodes)}`);
    });
    const recoveredMs = Date.now() - started;
    const last = await b.engine.stream.publish(key, msg('after'), { persistent: true });
    await until(() => a.received.some((r) => r.msg.id === last.message.id), 'the last message');
    const ids = a.received.map((r) => r.msg.id);
    expect([...ids].sort()).toEqual(ids);
    // The replica had the history: the same epoch goes on (replication is asynchronous, so this is not guaranteed in general).
    const page = await a.engine.stream.read(key, { since: first.message.id, limit: 10 });
    expect(page.messages.at(-1)?.id).toBe(last.message.id);
    console.info(`failover: delivery restored ${recoveredMs} ms after the master was killed`);
  }, 60_000);
});

describe('Redis engine on a Cluster whose node comes back with an empty script cache', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => cluster?.stop());

  it('sends each script with its text again once the connection to that node is made again, so no call there is answered NOSCRIPT', async () => {
    const { Redis, Cluster } = await import('ioredis');
    const client = clusterClient(cluster.startupNodes);
    const a = instance({ client, sharded: true });
    try {
      const key: RoomKey = { tenantId: 'acme', room: 'scripts' };
      // Until the client knows the slot map it cannot tell a call's node: the text goes, and is sent again once it can.
      for (const text of ['first', 'second']) await a.engine.stream.publish(key, msg(text), { persistent: true });
      const { master } = await slotNodes(cluster, key);
      const admin = new Redis(master, '127.0.0.1');
      const scriptStats = async () => {
        const stats = await admin.info('commandstats');
        const of = (re: RegExp) => Number(re.exec(stats)?.[1] ?? 0);
        return { evalsha: of(/^cmdstat_evalsha:calls=(\d+)/m), failed: of(/^cmdstat_evalsha:.*\bfailed_calls=(\d+)/m), eval: of(/^cmdstat_eval:calls=(\d+)/m) };
      };
      try {
        // The script has run there: called by its hash.
        await admin.config('RESETSTAT');
        await a.engine.stream.publish(key, msg('third'), { persistent: true });
        expect(await scriptStats()).toEqual({ evalsha: 1, failed: 0, eval: 0 });
        // The node forgets its scripts and the client's connection to it is made again (as when a node restarts).
        await admin.script('FLUSH');
        await admin.config('RESETSTAT');
        expect(client).toBeInstanceOf(Cluster);
        const node = client.nodes('master').find((n) => n.options.port === master);
        if (!node) throw new Error(`no connection to the master on ${master}`);
        // A Cluster drops a node's lost connection and makes a new one when a command needs the node.
        const dropped = new Promise((resolve) => client.once('-node', resolve));
        node.disconnect();
        await dropped;
        await a.engine.stream.publish(key, msg('fourth'), { persistent: true });
        expect(await scriptStats()).toEqual({ evalsha: 0, failed: 0, eval: 1 });
        expect((await a.engine.stream.read(key, { limit: 10 })).messages.map((m) => m.payload)).toEqual(['first', 'second', 'third', 'fourth']);
      } finally {
        admin.disconnect();
      }
    } finally {
      await a.engine.close();
    }
  }, 60_000);
});
