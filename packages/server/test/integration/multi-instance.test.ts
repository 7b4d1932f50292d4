import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceInfo, RoomMessage } from '@intelgraph/websocket-protocol';
import { closeAll, collect, connect, next, request, sleep, until, type TestSocket } from '../helpers/clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

type SendAck = { success: boolean; messageId: string; error?: string; message?: string };
type JoinAck = { success: boolean; messages?: RoomMessage[]; recovered?: boolean; hasMore?: boolean };
const send = (s: TestSocket, room: string, payload: unknown, persistent = true) => request<SendAck>(s, 'room:send', { room, payload, persistent });
const presenceOf = async (s: TestSocket, room: string) =>
  (await request<{ presence: PresenceInfo[] }>(s, 'query:presence', { room })).presence.map((p) => `${p.userId}:${p.status}:${p.connections}`).sort();

/**
 * Three real server processes sharing one private Redis (AOF on, so a Redis
 * restart keeps history): clients on different instances must see one server.
 */
describe('three instances over Redis', () => {
  let redis: RedisServer;
  const servers: ServerProcess[] = [];
  const env = () => ({
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'mi:',
    HEARTBEAT_INTERVAL: '1000',
    HEARTBEAT_TIMEOUT: '3000',
    RATE_LIMIT_MESSAGES_PER_SECOND: '0',
  });
  const url = (i: number) => (servers[i] as ServerProcess).url;

  beforeAll(async () => {
    redis = await startRedisServer({ appendOnly: true });
    for (let i = 0; i < 3; i++) servers.push(await startServerProcess({ ...env(), SERVER_ID: `node-${i}` }));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await redis.stop();
  });
  afterEach(() => closeAll());

  it('delivers across instances, in one id order for every member, excluding only the sending connection', async () => {
    const senders = await Promise.all([0, 1, 2].map((i) => connect(url(i), { claims: { sub: `sender${i}` } })));
    const r0 = await connect(url(0), { claims: { sub: 'reader0' } });
    const r2 = await connect(url(2), { claims: { sub: 'reader2' } });
    expect(new Set([r0.established.serverId, r2.established.serverId, ...senders.map((s) => s.established.serverId)]).size).toBe(3);
    for (const c of [...senders, r0, r2]) await request(c.socket, 'room:join', { room: 'x-order' });
    const got0 = collect<RoomMessage>(r0.socket, 'room:message');
    const got2 = collect<RoomMessage>(r2.socket, 'room:message');
    const own = collect<RoomMessage>(senders[1]!.socket, 'room:message');
    const acks = await Promise.all(senders.map((c, i) => Promise.all(Array.from({ length: 40 }, (_, j) => send(c.socket, 'x-order', `${i}:${j}`, j % 3 !== 0)))));
    expect(acks.flat().every((a) => a.success)).toBe(true);
    await until(() => got0.length === 120 && got2.length === 120, 10_000, 'all 120 messages on both readers');
    const ids = got0.map((m) => m.id);
    expect([...ids].sort()).toEqual(ids);
    expect(got2.map((m) => m.id)).toEqual(ids);
    expect(new Set(ids)).toEqual(new Set(acks.flat().map((a) => a.messageId)));
    // Each sender's own messages come back to it from no instance; the others' do.
    await sleep(200);
    expect(own.filter((m) => m.from === 'sender1')).toEqual([]);
    expect(own.length).toBe(80);
  });

  it('keeps tenants apart across instances', async () => {
    const a = await connect(url(0), { claims: { sub: 'alice', tenantId: 'acme' } });
    const b = await connect(url(1), { claims: { sub: 'bob', tenantId: 'acme' } });
    const g = await connect(url(2), { claims: { sub: 'gina', tenantId: 'globex' } });
    for (const c of [a, b, g]) await request(c.socket, 'room:join', { room: 'x-tenant' });
    const leaked = collect(g.socket, 'room:message');
    const got = next(b.socket, 'room:message');
    await send(a.socket, 'x-tenant', 'acme only');
    expect(await got).toMatchObject({ payload: 'acme only' });
    await sleep(200);
    expect(leaked).toEqual([]);
    expect(await presenceOf(g.socket, 'x-tenant')).toEqual(['gina:online:1']);
  });

  it('shows the same presence from every instance, with events across instances', async () => {
    const a = await connect(url(0), { claims: { sub: 'alice' } });
    const a2 = await connect(url(1), { claims: { sub: 'alice' } });
    const b = await connect(url(2), { claims: { sub: 'bob' } });
    await request(b.socket, 'room:join', { room: 'x-presence' });
    const joined = next<{ user: PresenceInfo }>(b.socket, 'presence:join');
    await request(a.socket, 'room:join', { room: 'x-presence' });
    expect((await joined).user).toMatchObject({ userId: 'alice', connections: 1 });
    await request(a2.socket, 'room:join', { room: 'x-presence' });
    const expected = ['alice:online:2', 'bob:online:1'];
    for (const c of [a, a2, b]) expect(await presenceOf(c.socket, 'x-presence')).toEqual(expected);
    const update = next<{ presence: PresenceInfo[] }>(b.socket, 'presence:update', (u) => u.presence[0]?.status === 'busy');
    await request(a.socket, 'presence:status', { status: 'busy' });
    expect((await update).presence).toEqual([expect.objectContaining({ userId: 'alice', status: 'busy', connections: 2 })]);
    const left = next(b.socket, 'presence:leave');
    a.socket.disconnect();
    a2.socket.disconnect();
    expect(await left).toEqual({ room: 'x-presence', userId: 'alice' });
    expect(await presenceOf(b.socket, 'x-presence')).toEqual(['bob:online:1']);
  });

  it('serves history and recovery from any instance', async () => {
    const a = await connect(url(0), { claims: { sub: 'alice' } });
    await request(a.socket, 'room:join', { room: 'x-history' });
    const first = await send(a.socket, 'x-history', 'first');
    const later = [];
    for (let i = 0; i < 5; i++) later.push(await send(a.socket, 'x-history', `m${i}`));
    const b = await connect(url(2), { claims: { sub: 'bob' } });
    const join = await request<JoinAck>(b.socket, 'room:join', { room: 'x-history', since: first.messageId });
    expect(join).toMatchObject({ success: true, recovered: true, hasMore: false });
    expect(join.messages?.map((m) => m.id)).toEqual(later.map((l) => l.messageId));
    const hist = await request<{ messages: RoomMessage[] }>(b.socket, 'room:history', { room: 'x-history' });
    expect(hist.messages.map((m) => m.payload)).toEqual(['first', 'm0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('shares per-user rate limits between instances', async () => {
    const restricted = await Promise.all([0, 1].map((i) => startServerProcess({ ...env(), RATE_LIMIT_USER_MESSAGES_PER_SECOND: '2', RATE_LIMIT_USER_MESSAGES_BURST: '10' })));
    try {
      const a = await connect(restricted[0]!.url, { claims: { sub: 'limited' } });
      const b = await connect(restricted[1]!.url, { claims: { sub: 'limited' } });
      await request(a.socket, 'room:join', { room: 'x-limit' });
      await request(b.socket, 'room:join', { room: 'x-limit' });
      const acks = await Promise.all([...Array.from({ length: 10 }, (_, i) => send(a.socket, 'x-limit', i, false)), ...Array.from({ length: 10 }, (_, i) => send(b.socket, 'x-limit', i, false))]);
      const ok = acks.filter((x) => x.success).length;
      expect(ok).toBeGreaterThanOrEqual(10);
      expect(ok).toBeLessThanOrEqual(12);
      expect(acks.filter((x) => x.error === 'RATE_LIMITED').length).toBe(20 - ok);
    } finally {
      await Promise.all(restricted.map((s) => s.kill()));
    }
  });

  it('keeps the presence of more connections than one maintenance batch alive on one instance, with no client heartbeat', async () => {
    // 600 connections (the server touches 500 per store call) in 60 rooms of 10, on an instance of their own.
    const busy = await startServerProcess({ ...env(), SERVER_ID: 'busy', RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: '0', RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND: '0', MAX_PENDING_SESSIONS_PER_IP: '0' });
    try {
      const clients: TestSocket[] = [];
      for (let i = 0; i < 600; i += 50) {
        const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => connect(busy.url, { claims: { sub: `many${i + j}` } })));
        clients.push(...batch.map((c) => c.socket));
      }
      const rooms = Array.from({ length: 60 }, (_, r) => `x-many-${r}`);
      await Promise.all(clients.map((c, i) => request(c, 'room:join', { room: rooms[i % 60] })));
      const leaves = clients.slice(0, 60).map((c) => collect(c, 'presence:leave'));
      // Three HEARTBEAT_TIMEOUTs, and sweeps from every instance meanwhile.
      await sleep(9000);
      expect(leaves.flat()).toEqual([]);
      const watcher = await connect(url(1), { claims: { sub: 'many-watcher' } });
      const counts = await Promise.all(rooms.map(async (r) => (await request<{ presence: PresenceInfo[] }>(watcher.socket, 'query:presence', { room: r })).presence.length));
      expect(counts).toEqual(rooms.map(() => 10));
    } finally {
      await busy.kill();
    }
  }, 40_000);

  it('after kill -9 of an instance: its users leave presence within HEARTBEAT_TIMEOUT + 10 s, history stays intact', async () => {
    const victim = await startServerProcess({ ...env(), SERVER_ID: 'victim' });
    try {
      const doomed = await connect(victim.url, { claims: { sub: 'doomed' } });
      const watcher = await connect(url(0), { claims: { sub: 'watcher' } });
      await request(watcher.socket, 'room:join', { room: 'x-crash' });
      await request(doomed.socket, 'room:join', { room: 'x-crash' });
      const acked: string[] = [];
      for (let i = 0; i < 20; i++) acked.push((await send(doomed.socket, 'x-crash', i)).messageId);
      expect(await presenceOf(watcher.socket, 'x-crash')).toEqual(['doomed:online:1', 'watcher:online:1']);
      const leave = next<{ userId: string }>(watcher.socket, 'presence:leave', (l) => l.userId === 'doomed', 13_000 + 2000);
      const killedAt = Date.now();
      await victim.kill();
      expect(await leave).toEqual({ room: 'x-crash', userId: 'doomed' });
      expect(Date.now() - killedAt).toBeLessThan(13_000);
      expect(await presenceOf(watcher.socket, 'x-crash')).toEqual(['watcher:online:1']);
      const hist = await request<{ messages: RoomMessage[] }>(watcher.socket, 'room:history', { room: 'x-crash' });
      expect(hist.messages.map((m) => m.id)).toEqual(acked);
    } finally {
      await victim.kill();
    }
  }, 30_000);

  it('survives Redis going away: live stays 200, ready 503, coded errors; all recovers when Redis returns', async () => {
    const a = await connect(url(0), { claims: { sub: 'alice' } });
    const b = await connect(url(1), { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: 'x-outage' });
    await request(b.socket, 'room:join', { room: 'x-outage' });
    const before = await send(a.socket, 'x-outage', 'before');
    await redis.pause();
    try {
      await until(async () => (await fetch(`${url(0)}/health/ready`)).status === 503, 10_000, 'readiness 503');
      expect((await fetch(`${url(0)}/health/live`)).status).toBe(200);
      expect(await (await fetch(`${url(0)}/health`)).json()).toMatchObject({ status: 'degraded' });
      const refused = await send(a.socket, 'x-outage', 'during');
      expect(refused).toMatchObject({ success: false, error: 'INTERNAL', message: expect.stringMatching(/unavailable/) });
      expect(a.socket.connected).toBe(true);
    } finally {
      await redis.restart();
    }
    for (const i of [0, 1, 2]) await until(async () => (await fetch(`${url(i)}/health/ready`)).status === 200, 20_000, `instance ${i} ready again`);
    const got = next<RoomMessage>(b.socket, 'room:message', (m) => m.payload === 'after', 10_000);
    await until(async () => (await send(a.socket, 'x-outage', 'after')).success, 10_000, 'sends to succeed again');
    expect(await got).toMatchObject({ payload: 'after' });
    const hist = await request<{ messages: RoomMessage[] }>(b.socket, 'room:history', { room: 'x-outage' });
    expect(hist.messages[0]?.id).toBe(before.messageId);
    for (const s of servers) expect(s.exitCode()).toBeNull();
  }, 60_000);
});
