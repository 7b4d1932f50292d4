import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceInfo, RoomMessage } from '@intelgraph/websocket-protocol';
import { closeAll, collect, connect, next, request, until } from '../helpers/clients.js';
import { handOver, startRedisCluster, type RedisClusterHandle } from '../helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/** Three server processes on a six-node Redis Cluster (sharded pub/sub). */
describe('three instances over a Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    cluster = await startRedisCluster();
    const nodes = cluster.startupNodes.map((n) => `${n.host}:${n.port}`).join(',');
    for (let i = 0; i < 3; i++) {
      servers.push(await startServerProcess({ REDIS_CLUSTER_NODES: nodes, RATE_LIMIT_MESSAGES_PER_SECOND: '0', HEARTBEAT_INTERVAL: '1000', HEARTBEAT_TIMEOUT: '3000' }));
    }
  }, 90_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await cluster?.stop();
  });
  afterEach(() => closeAll());

  it('delivers in one id order across instances, in rooms spread over the slots, with presence and recovery', async () => {
    const rooms = ['alpha', 'bravo', 'charlie', 'delta'];
    const senders = await Promise.all(servers.map((s, i) => connect(s.url, { claims: { sub: `s${i}` } })));
    const reader = await connect(servers[2]!.url, { claims: { sub: 'reader' } });
    const other = await connect(servers[0]!.url, { claims: { sub: 'other' } });
    for (const room of rooms) for (const c of [...senders, reader, other]) await request(c.socket, 'room:join', { room });
    const got = collect<RoomMessage>(reader.socket, 'room:message');
    const got2 = collect<RoomMessage>(other.socket, 'room:message');
    await Promise.all(
      senders.map((c, i) =>
        Promise.all(rooms.flatMap((room) => Array.from({ length: 10 }, (_, j) => request(c.socket, 'room:send', { room, payload: `${i}:${j}`, persistent: true })))),
      ),
    );
    await until(() => got.length === 120 && got2.length === 120, 15_000, 'all messages');
    for (const room of rooms) {
      const ids = got.filter((m) => m.room === room).map((m) => m.id);
      expect(ids).toHaveLength(30);
      expect([...ids].sort()).toEqual(ids);
      expect(got2.filter((m) => m.room === room).map((m) => m.id)).toEqual(ids);
      const late = await connect(servers[1]!.url, { claims: { sub: `late-${room}` } });
      const join = await request<{ messages: RoomMessage[]; recovered: boolean }>(late.socket, 'room:join', { room, since: ids[9] });
      expect(join.recovered).toBe(true);
      expect(join.messages.map((m) => m.id)).toEqual(ids.slice(10));
    }
    const presence = await request<{ presence: PresenceInfo[] }>(senders[1]!.socket, 'query:presence', { room: 'alpha' });
    expect(presence.presence.map((p) => p.userId).sort()).toEqual(['late-alpha', 'other', 's0', 's1', 's2', 'reader'].sort());
    const left = next(reader.socket, 'presence:leave', (l: { userId: string }) => l.userId === 's0');
    senders[0]!.socket.disconnect();
    expect(await left).toMatchObject({ userId: 's0' });
  }, 60_000);

  it('keeps delivering messages and presence across instances after every master hands its slots to its replica', async () => {
    const rooms = ['echo', 'foxtrot', 'golf'];
    const sender = await connect(servers[0]!.url, { claims: { sub: 'sender' } });
    const reader = await connect(servers[1]!.url, { claims: { sub: 'reader' } });
    for (const room of rooms) for (const c of [sender, reader]) await request(c.socket, 'room:join', { room });
    const got = collect<RoomMessage>(reader.socket, 'room:message');

    // CLUSTER FAILOVER on every replica, one after the other: each old master stays up as a replica, no connection drops.
    const admins = cluster.nodes.map((n) => new Redis(n.port, '127.0.0.1'));
    const roles = await Promise.all(admins.map(async (r) => String(await r.call('ROLE')).split(',')[0]));
    for (const r of admins) r.disconnect();
    const replicas = cluster.nodes.filter((_, i) => roles[i] === 'slave');
    expect(replicas).toHaveLength(3);
    for (const r of replicas) await handOver(r.port);

    // Room messages (the engine's sharded subscriptions) reach the other instance again, in every room.
    for (const room of rooms) {
      await until(async () => {
        await request(sender.socket, 'room:send', { room, payload: 'probe', persistent: false }).catch(() => undefined);
        return got.some((m) => m.room === room);
      }, 20_000, `delivery in ${room} after the handover`);
    }
    // Presence travels through the Socket.IO adapter's sharded subscriptions.
    const joined = next<{ room: string; user: PresenceInfo }>(reader.socket, 'presence:join', (j) => j.user.userId === 'newcomer', 20_000);
    const newcomer = await connect(servers[2]!.url, { claims: { sub: 'newcomer' } });
    await request(newcomer.socket, 'room:join', { room: 'echo' });
    expect(await joined).toMatchObject({ room: 'echo', user: { userId: 'newcomer' } });
  }, 150_000);
});
