import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compareMessageIds, type PresenceInfo, type RoomMessage } from '@intelgraph/websocket-protocol';
import { RedisConnectionRegistry } from '../../src/engine/redis/connections.js';
import type { RedisClient } from '../../src/engine/redis/connection.js';
import { RedisInstanceRegistry } from '../../src/engine/redis/instances.js';
import { RedisPresenceStore } from '../../src/engine/redis/presence.js';
import { closeAll, collect, connect, connectError, next, request, until } from '../helpers/clients.js';
import { startTestServer } from '../helpers/in-process.js';
import { clusterClient, redisClient } from '../helpers/redis-clients.js';
import { startRedisCluster, startRedisServer, takeOver, type RedisClusterHandle, type RedisServer } from '../helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Redis loses its data under two instances with connected clients: restarted without persistence, or
 * a Cluster replica promoted after writes it never received. Nobody reconnects; each instance
 * re-asserts what its connections hold, so presence, connection counts and occupancy come back within
 * HEARTBEAT_INTERVAL + 5 s of Redis answering again.
 */
const HEARTBEAT_INTERVAL = 1000;
const HEALED_WITHIN = HEARTBEAT_INTERVAL + 5000;
const env = {
  HEARTBEAT_INTERVAL: String(HEARTBEAT_INTERVAL),
  HEARTBEAT_TIMEOUT: '3000',
  MAX_CONNECTIONS_PER_USER: '2',
  RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: '0',
  // The heal is watched with query:presence from alice's and bob's connections every few ms, for up to
  // HEALED_WITHIN: that would spend their event budget, and the room:join after it would be refused.
  RATE_LIMIT_EVENTS_PER_SECOND: '0',
};

interface Names {
  room: string;
  alice: string;
  bob: string;
  carol: string;
}

interface Deployment {
  /** Two instances on one Redis (or Cluster). */
  servers: ServerProcess[];
  /** A new connection to the Redis the instances use, to read what they keep there. */
  client(): RedisClient;
  /** Called before the clients write anything (a Cluster freezes the replica that is to take over). */
  beforeWrites(): Promise<void>;
  /** The data goes; resolves once Redis answers again, empty of what was written. */
  loseData(): Promise<void>;
}

type Presence = { success: boolean; presence?: PresenceInfo[] };
const view = (list: PresenceInfo[] | undefined) =>
  (list ?? []).map((p) => `${p.userId}:${p.status}:${p.connections}:${JSON.stringify(p.metadata ?? null)}`).sort();

/**
 * alice (with join metadata) on the first instance, bob (away, with status metadata) on the second,
 * carol on both (busy on the second, so two connections: MAX_CONNECTIONS_PER_USER), all in one room,
 * persistent messages sent; then the data loss, and everything checked back without a reconnect.
 */
async function healsWithoutReconnecting(d: Deployment, n: Names): Promise<void> {
  const [a, b] = d.servers as [ServerProcess, ServerProcess];
  await d.beforeWrites();
  const alice = await connect(a.url, { claims: { sub: n.alice } });
  const bob = await connect(b.url, { claims: { sub: n.bob } });
  const carol1 = await connect(a.url, { claims: { sub: n.carol } });
  const carol2 = await connect(b.url, { claims: { sub: n.carol } });
  const sockets = [alice, bob, carol1, carol2];
  const dropped: string[] = [];
  for (const c of sockets) c.socket.on('disconnect', (reason) => dropped.push(`${c.established.userId}: ${reason}`));
  await request(alice.socket, 'room:join', { room: n.room, metadata: { role: 'lead' } });
  for (const c of [bob, carol1, carol2]) await request(c.socket, 'room:join', { room: n.room });
  await request(bob.socket, 'presence:status', { status: 'away', metadata: { note: 'lunch' } });
  await request(carol2.socket, 'presence:status', { status: 'busy' });
  const sent: string[] = [];
  for (let i = 0; i < 3; i++) sent.push((await request<{ messageId: string }>(alice.socket, 'room:send', { room: n.room, payload: `before-${i}`, persistent: true })).messageId);

  const expected = [`${n.alice}:online:1:{"role":"lead"}`, `${n.bob}:away:1:{"note":"lunch"}`, `${n.carol}:busy:2:null`].sort();
  const occupancy = { room: n.room, connections: 4, users: 3, byStatus: { online: 1, away: 1, busy: 1, offline: 0 } };
  const serverOf = new Map(sockets.map((c) => [c.established.connectionId, c.established.serverId]));
  const serverIds = [...new Set(serverOf.values())].sort();

  /** Every view of the shared state, as read from each instance and from Redis. */
  const whole = async (client: RedisClient): Promise<string[]> => {
    const presence = new RedisPresenceStore({ client, timeoutMs: 3000 });
    const registry = new RedisConnectionRegistry({ client });
    const instances = new RedisInstanceRegistry({ client });
    const now = Date.now();
    const missing: string[] = [];
    try {
      const fromA = await request<Presence>(alice.socket, 'query:presence', { room: n.room });
      const fromB = await request<Presence>(bob.socket, 'query:presence', { room: n.room });
      if (JSON.stringify(view(fromA.presence)) !== JSON.stringify(expected)) missing.push(`presence from A ${view(fromA.presence).join(' ')}`);
      if (JSON.stringify(view(fromB.presence)) !== JSON.stringify(expected)) missing.push(`presence from B ${view(fromB.presence).join(' ')}`);
      const o = await presence.occupancy({ tenantId: 'acme', room: n.room }, now);
      if (JSON.stringify(o) !== JSON.stringify(occupancy)) missing.push(`occupancy ${JSON.stringify(o)}`);
      if (!(await presence.rooms('acme', { prefix: n.room, limit: 1 }, now)).rooms.some((r) => r.room === n.room)) missing.push('room index');
      if ((await presence.roomsOf(carol2.established.connectionId, now)).join() !== n.room) missing.push("carol's rooms");
      for (const [user, count] of [[n.alice, 1], [n.bob, 1], [n.carol, 2]] as const) {
        const records = await registry.list('acme', user, now);
        if (records.length !== count || records.some((r) => serverOf.get(r.connectionId) !== r.serverId)) missing.push(`registry of ${user}: ${records.length}`);
      }
      const live = (await instances.instances(now)).map((r) => r.serverId);
      if (!serverIds.every((id) => live.includes(id))) missing.push(`instances ${live.join(' ')}`);
    } catch (err) {
      missing.push((err as Error).message);
    }
    return missing;
  };

  const before = d.client();
  try {
    await until(async () => (await whole(before)).length === 0, 10_000, 'the state before the loss');
  } finally {
    before.disconnect();
  }

  await d.loseData();
  const after = d.client();
  try {
    let last: string[] = [];
    await until(async () => (last = await whole(after)).length === 0, HEALED_WITHIN, 'presence, counts and occupancy back').catch((err: Error) => {
      throw new Error(`${err.message}; still missing: ${last.join('; ')}`);
    });
  } finally {
    after.disconnect();
  }
  expect(dropped).toEqual([]);

  // The cap holds with the rebuilt counts: carol has her two connections.
  expect((await connectError(a.url, { claims: { sub: n.carol } })).data.code).toBe('CONNECTION_LIMIT');

  // History: the room starts a new one. New ids sort after every id of before; a rejoin from an old position is told.
  const next = await request<{ messageId: string }>(bob.socket, 'room:send', { room: n.room, payload: 'after', persistent: true });
  for (const id of sent) expect(compareMessageIds(next.messageId, id)).toBeGreaterThan(0);
  await request(alice.socket, 'room:leave', { room: n.room });
  const rejoin = await request<{ success: boolean; recovered: boolean; messages: RoomMessage[] }>(alice.socket, 'room:join', { room: n.room, since: sent[2] });
  expect(rejoin).toMatchObject({ success: true, recovered: false });
  expect(rejoin.messages.map((m) => m.payload)).toEqual(['after']);
}

describe('Redis restarted without its data', () => {
  let redis: RedisServer;
  let hooks: WebhookReceiver;
  const servers: ServerProcess[] = [];
  const WEBHOOK_SECRET = 'data-loss-webhook-secret-0123456789abcdef';
  beforeAll(async () => {
    redis = await startRedisServer();
    hooks = await startWebhookReceiver(WEBHOOK_SECRET);
    const webhooks = { WEBHOOK_URL: hooks.url, WEBHOOK_SECRET, WEBHOOK_BATCH_WAIT: '100', WEBHOOK_LEAVE_GRACE: '1000' };
    for (let i = 0; i < 2; i++) servers.push(await startServerProcess({ ...env, ...webhooks, REDIS_URL: redis.url }));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await redis?.stop();
    await hooks?.close();
  });
  afterEach(() => closeAll());

  it('tells members of re-created entries with an idempotent presence:join, and nobody leaves (FLUSHALL)', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const alice = await connect(a.url, { claims: { sub: 'flush-alice' } });
    const bob = await connect(b.url, { claims: { sub: 'flush-bob' } });
    await request(alice.socket, 'room:join', { room: 'flushed', metadata: { role: 'lead' } });
    await request(bob.socket, 'room:join', { room: 'flushed' });
    const joins = collect<{ room: string; user: PresenceInfo }>(bob.socket, 'presence:join');
    const leaves = [...collect(alice.socket, 'presence:leave'), ...collect(bob.socket, 'presence:leave')];
    // The webhooks of the joins are delivered before the data goes (the outbox is in Redis too).
    const lifecycle = () => hooks.unique().filter((e) => /^(member|user|room)\./.test(e.type) && JSON.stringify(e.data).includes('flush'));
    await until(() => lifecycle().filter((e) => e.type === 'member.joined').length === 2, 15_000, 'the member.joined webhooks');
    const before = lifecycle().length;
    const admin = new Redis(redis.port, '127.0.0.1');
    try {
      await admin.flushall();
    } finally {
      admin.disconnect();
    }
    await until(() => joins.some((j) => j.user.userId === 'flush-alice'), HEALED_WITHIN, 'presence:join of the restored entry');
    expect(joins.find((j) => j.user.userId === 'flush-alice')).toMatchObject({ room: 'flushed', user: { status: 'online', connections: 1, metadata: { role: 'lead' } } });
    // Each instance re-creates its own connections' entries, in its own round.
    const whole = ['flush-alice:online:1:{"role":"lead"}', 'flush-bob:online:1:null'];
    await until(async () => JSON.stringify(view((await request<Presence>(bob.socket, 'query:presence', { room: 'flushed' })).presence)) === JSON.stringify(whole), HEALED_WITHIN, 'both entries');
    expect(leaves).toEqual([]);
    // The heal re-creates entries (a restore): no webhook says anyone left, went offline or came back.
    // Past the grace window and a few delivery rounds, nothing new has arrived.
    await new Promise((r) => setTimeout(r, 3000));
    expect(lifecycle().slice(before)).toEqual([]);
    // The webhooks still work after the loss: alice leaving is reported.
    await request(alice.socket, 'room:leave', { room: 'flushed' });
    await until(() => lifecycle().some((e) => e.type === 'member.left' && (e.data as { userId?: string }).userId === 'flush-alice'), 15_000, 'member.left after the heal');
  }, 45_000);

  it('announces a user who leaves before the lost entry was re-created', async () => {
    // Maintenance every 30 s: none runs during the test, so the entries stay lost.
    const slow = await Promise.all([0, 1].map(() => startTestServer({ REDIS_URL: redis.url, HEARTBEAT_INTERVAL: '60000', HEARTBEAT_TIMEOUT: '120000' })));
    try {
      const alice = await connect(slow[0]!.url, { claims: { sub: 'gone-alice' } });
      const bob = await connect(slow[1]!.url, { claims: { sub: 'gone-bob' } });
      await request(alice.socket, 'room:join', { room: 'gone' });
      await request(bob.socket, 'room:join', { room: 'gone' });
      const admin = new Redis(redis.port, '127.0.0.1');
      try {
        await admin.flushall();
      } finally {
        admin.disconnect();
      }
      const left = next<{ room: string; userId: string }>(bob.socket, 'presence:leave');
      alice.socket.disconnect();
      expect(await left).toEqual({ room: 'gone', userId: 'gone-alice' });
    } finally {
      await Promise.all(slow.map((s) => s.close()));
    }
  });

  it('after kill -9 and a restart without persistence: presence, counts and occupancy are back without a reconnect', async () => {
    await healsWithoutReconnecting(
      {
        servers,
        client: () => redisClient(redis.port),
        beforeWrites: async () => {},
        async loseData() {
          await redis.kill();
          await redis.restart();
        },
      },
      { room: 'healed', alice: 'alice', bob: 'bob', carol: 'carol' },
    );
  }, 60_000);
});

describe('Redis Cluster: a replica promoted after writes it never received (CLUSTER FAILOVER TAKEOVER)', () => {
  let cluster: RedisClusterHandle;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    cluster = await startRedisCluster();
    const nodes = cluster.startupNodes.map((n) => `${n.host}:${n.port}`).join(',');
    for (let i = 0; i < 2; i++) servers.push(await startServerProcess({ ...env, REDIS_CLUSTER_NODES: nodes }));
  }, 120_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await cluster?.stop();
  });
  afterEach(() => closeAll());

  it('brings presence, counts and occupancy back without a reconnect', async () => {
    // One master holds the tenant's room index, the room and the users' registries, so all are lost together.
    const probe = new Redis(cluster.nodes[0]!.port, '127.0.0.1');
    const ranges = (await probe.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
    const masterOf = async (key: string) => {
      const slot = (await probe.call('CLUSTER', 'KEYSLOT', key)) as number;
      return ranges.find(([lo, hi]) => slot >= lo && slot <= hi)?.[2];
    };
    const victim = (await masterOf('ig:presence:rooms:acme')) as [string, number, string];
    const onVictim = async (make: (i: number) => string, key: (name: string) => string) => {
      for (let i = 0; ; i++) if ((await masterOf(key(make(i))))?.[1] === victim[1]) return make(i);
    };
    const names: Names = {
      room: await onVictim((i) => `healed-${i}`, (r) => `ig:{acme#${r}}:p:c`),
      alice: await onVictim((i) => `alice-${i}`, (u) => `ig:user:{acme#${u}}:conn`),
      bob: await onVictim((i) => `bob-${i}`, (u) => `ig:user:{acme#${u}}:conn`),
      carol: await onVictim((i) => `carol-${i}`, (u) => `ig:user:{acme#${u}}:conn`),
    };
    const replicas = (await probe.call('CLUSTER', 'REPLICAS', victim[2])) as string[];
    probe.disconnect();
    const replicaPort = Number(/:(\d+)@/.exec(replicas[0] ?? '')?.[1]);
    const master = cluster.nodes.find((node) => node.port === victim[1]) as RedisServer;
    const replica = cluster.nodes.find((node) => node.port === replicaPort) as RedisServer;
    expect(master && replica).toBeTruthy();

    await healsWithoutReconnecting(
      {
        servers,
        client: () => clusterClient(cluster.startupNodes),
        // The replica receives nothing from now on: frozen, its replication link closed by the master (what the master
        // had sent would otherwise still sit in the replica's socket, to be read when it goes on), and unable to reconnect.
        async beforeWrites() {
          replica.signal('SIGSTOP');
          const admin = new Redis(master.port, '127.0.0.1');
          try {
            await admin.call('CLIENT', 'KILL', 'TYPE', 'replica');
          } finally {
            admin.disconnect();
          }
        },
        async loseData() {
          await master.kill();
          replica.signal('SIGCONT');
          await takeOver(replica.port);
        },
      },
      names,
    );
  }, 120_000);
});
