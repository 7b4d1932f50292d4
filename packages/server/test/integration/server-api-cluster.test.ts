import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { api, API_KEYS, enc, KEYS } from '../helpers/api.js';
import { closeAll, collect, connect, connectError, next, request, until } from '../helpers/clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { mintToken } from '../helpers/tokens.js';

type Obj = Record<string, unknown>;

/**
 * Three server processes (A, B, C) on one private Redis: every call answers for the whole
 * deployment whichever instance it reaches, and every action reaches the connections wherever
 * they are.
 */
describe('server API v1 across three instances on Redis', () => {
  let redis: RedisServer;
  const servers: ServerProcess[] = [];
  const env = (id: string) => ({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'api:', SERVER_ID: id, API_KEYS, HEARTBEAT_INTERVAL: '1000', HEARTBEAT_TIMEOUT: '3000' });
  const [A, B, C] = [0, 1, 2].map((i) => () => (servers[i] as ServerProcess).url) as [() => string, () => string, () => string];

  beforeAll(async () => {
    redis = await startRedisServer({ appendOnly: true });
    for (const id of ['A', 'B', 'C']) servers.push(await startServerProcess(env(id)));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await redis.stop();
  });
  afterEach(() => closeAll());

  it('publishes through one instance to members on the others, and reads history, occupancy, presence and rooms from any', async () => {
    const onB = await connect(B(), { claims: { sub: 'alice', tenantId: 'acme' } });
    const onC = await connect(C(), { claims: { sub: 'bob', tenantId: 'acme' } });
    const alsoC = await connect(C(), { claims: { sub: 'alice', tenantId: 'acme' } });
    for (const c of [onB, onC, alsoC]) await request(c.socket, 'room:join', { room: 'cl/ops', metadata: { on: c.established.serverId } });
    await request(onC.socket, 'presence:status', { status: 'away' });
    const gotB = next<RoomMessage>(onB.socket, 'room:message');
    const gotC = next<RoomMessage>(onC.socket, 'room:message');
    const pub = await api<Obj>(A(), 'POST', `/rooms/${enc('cl/ops')}/messages`, { key: KEYS.acme, body: { payload: 'hello', persistent: true, idempotencyKey: 'cl-1' } });
    expect(pub.status).toBe(200);
    expect((await gotB).id).toBe(pub.body.messageId);
    expect((await gotC).id).toBe(pub.body.messageId);
    // The idempotency key holds across instances.
    expect((await api<Obj>(C(), 'POST', `/rooms/${enc('cl/ops')}/messages`, { key: KEYS.acme, body: { payload: 'hello', persistent: true, idempotencyKey: 'cl-1' } })).body).toEqual({ messageId: pub.body.messageId, duplicate: true });
    const batch = await api<{ results: Obj[] }>(B(), 'POST', '/messages', { key: KEYS.acme, body: { messages: [{ room: 'cl/ops', payload: 2, persistent: true }, { room: 'cl/other', payload: 3 }] } });
    expect(batch.body.results.map((r) => r.error ?? 'ok')).toEqual(['ok', 'ok']);
    expect((await api<{ messages: Obj[] }>(B(), 'GET', `/rooms/${enc('cl/ops')}/messages`, { key: KEYS.acme })).body.messages.map((m) => m.payload)).toEqual(['hello', 2]);

    for (const url of [A(), B(), C()]) {
      expect((await api(url, 'GET', `/rooms/${enc('cl/ops')}`, { key: KEYS.acme })).body).toEqual({ room: 'cl/ops', connections: 3, users: 2, byStatus: { online: 1, away: 1, busy: 0, offline: 0 } });
      const presence = await api<{ presence: Obj[] }>(url, 'GET', `/rooms/${enc('cl/ops')}/presence`, { key: KEYS.acme });
      expect(presence.body.presence.map((p) => `${p.userId}:${p.status}:${p.connections}`)).toEqual(['alice:online:2', 'bob:away:1']);
      expect((await api<{ rooms: Obj[] }>(url, 'GET', '/rooms?prefix=cl/', { key: KEYS.acme })).body.rooms.map((r) => r.room)).toEqual(['cl/ops']);
    }
    const alice = await api<{ connections: { instance: string; rooms: string[] }[]; online: boolean }>(A(), 'GET', '/users/alice', { key: KEYS.acme });
    expect(alice.body.online).toBe(true);
    expect(alice.body.connections.map((c) => `${c.instance}:${c.rooms.join()}`).sort()).toEqual(['B:cl/ops', 'C:cl/ops']);
    await until(async () => (await api<{ instances: Obj[] }>(A(), 'GET', '/instances', { key: KEYS.operator })).body.instances.length === 3, 15_000, 'three instances');
    const instances = await api<{ instances: { serverId: string }[] }>(B(), 'GET', '/instances', { key: KEYS.operator });
    expect(instances.body.instances.map((i) => i.serverId).sort()).toEqual(['A', 'B', 'C']);
    await until(
      async () => (await api<{ tenants: Obj[] }>(C(), 'GET', '/tenants', { key: KEYS.operator })).body.tenants.some((t) => t.tenantId === 'acme' && t.connections === 3),
      15_000,
      'acme with its three connections',
    );
  });

  it('sums each tenant\'s messages and refusals over the instances in /tenants, and gives each instance\'s own in /instances', async () => {
    const onB = await connect(B(), { claims: { sub: 'ann', tenantId: 'tally' } });
    const onC = await connect(C(), { claims: { sub: 'ben', tenantId: 'tally' } });
    for (const c of [onB, onC]) {
      await request(c.socket, 'room:join', { room: 'count' });
      for (let i = 0; i < 2; i++) expect(await request(c.socket, 'room:send', { room: 'count', payload: i })).toMatchObject({ success: true });
    }
    expect(await request(onC.socket, 'room:send', { room: 'not-joined', payload: 0 })).toMatchObject({ success: false, error: 'NOT_IN_ROOM' });
    type Tally = { tenantId: string; connections: number; messages: number; refused: number };
    // Every instance publishes its counts every 5 s; any instance answers with the sum.
    await until(
      async () => {
        const t = (await api<{ tenants: Tally[] }>(A(), 'GET', '/tenants', { key: KEYS.operator })).body.tenants.find((x) => x.tenantId === 'tally');
        return t?.connections === 2 && t.messages === 5 && t.refused === 1;
      },
      20_000,
      'tally: 2 connections, 5 room:send (one refused)',
    );
    const { instances } = (await api<{ instances: { serverId: string; countsByTenant?: Record<string, { messages: number; refused: number }> }[] }>(A(), 'GET', '/instances', { key: KEYS.operator })).body;
    const own = Object.fromEntries(instances.map((i) => [i.serverId, i.countsByTenant?.tally]));
    expect(own).toEqual({ A: undefined, B: { messages: 2, refused: 0 }, C: { messages: 3, refused: 1 } });
  });

  it('disconnects a user connected to B and C through A; removes a member through A on every instance', async () => {
    const onB = await connect(B(), { claims: { sub: 'carol', tenantId: 'acme' } });
    const onC = await connect(C(), { claims: { sub: 'carol', tenantId: 'acme' } });
    const bystander = await connect(B(), { claims: { sub: 'dan', tenantId: 'acme' } });
    for (const c of [onB, onC, bystander]) await request(c.socket, 'room:join', { room: 'cl/rm' });
    const left = [onB, onC].map((c) => next<Obj>(c.socket, 'room:left'));
    const leave = next<Obj>(bystander.socket, 'presence:leave', (d) => d.userId === 'carol');
    expect((await api(A(), 'DELETE', '/rooms/cl%2Frm/members/carol', { key: KEYS.acme })).body).toEqual({ room: 'cl/rm', userId: 'carol', connections: 2 });
    for (const l of left) expect(await l).toEqual({ room: 'cl/rm', reason: 'removed' });
    expect(await leave).toEqual({ room: 'cl/rm', userId: 'carol' });
    await until(async () => (await api<Obj>(C(), 'GET', '/rooms/cl%2Frm', { key: KEYS.acme })).body.users === 1, 5000, 'carol gone from the room');

    const errors = [onB, onC].map((c) => next<Obj>(c.socket, 'system:error'));
    const closed = [onB, onC].map((c) => new Promise<string>((resolve) => c.socket.once('disconnect', resolve)));
    const res = await api<Obj>(A(), 'POST', '/users/carol/disconnect', { key: KEYS.acme, body: { code: 'FORBIDDEN', reason: 'suspended' } });
    expect(res.body).toEqual({ userId: 'carol', code: 'FORBIDDEN', connections: 2 });
    for (const e of errors) expect(await e).toEqual({ code: 'FORBIDDEN', message: 'suspended', disconnect: true });
    expect(await Promise.all(closed)).toEqual(['io server disconnect', 'io server disconnect']);
    expect(bystander.socket.connected).toBe(true);
    await until(async () => (await api<Obj>(B(), 'GET', '/users/carol', { key: KEYS.acme })).body.online === false, 5000, 'carol offline');
  });

  it('revokes through A: connections on B and C closed, the old token refused everywhere, also after every instance restarted', async () => {
    const issued = Math.floor(Date.now() / 1000) - 30;
    const old = await mintToken({ sub: 'erin', tenantId: 'acme', iat: issued });
    const onB = await connect(B(), { token: old });
    const onC = await connect(C(), { token: old });
    const closed = [onB, onC].map((c) => next<Obj>(c.socket, 'system:error'));
    const res = await api<Obj>(A(), 'POST', '/users/erin/revoke', { key: KEYS.acme, body: { before: (issued + 10) * 1000 } });
    expect(res.status).toBe(200);
    for (const c of closed) expect(await c).toMatchObject({ code: 'TOKEN_REVOKED', disconnect: true });
    for (const url of [A(), B(), C()]) expect((await connectError(url, { token: old })).data).toMatchObject({ code: 'TOKEN_REVOKED' });

    for (const s of servers) await s.stop();
    for (const s of servers) await s.start();
    for (const url of [A(), B(), C()]) expect((await connectError(url, { token: old })).data).toMatchObject({ code: 'TOKEN_REVOKED' });
    const fresh = await connect(B(), { token: await mintToken({ sub: 'erin', tenantId: 'acme', iat: issued + 20 }) });
    expect(fresh.established.userId).toBe('erin');
  });

  it('keeps tenants apart on every route: a tenant key neither reads nor acts on another tenant', async () => {
    const alice = await connect(B(), { claims: { sub: 'alice', tenantId: 'acme' } });
    await request(alice.socket, 'room:join', { room: 'iso' });
    // acme's own message reaches alice (through Redis, from A to B) before listening for anything else.
    const own = next<RoomMessage>(alice.socket, 'room:message');
    await api(A(), 'POST', '/rooms/iso/messages', { key: KEYS.acme, body: { payload: 'acme only', persistent: true } });
    expect((await own).payload).toBe('acme only');
    const msgs = collect<RoomMessage>(alice.socket, 'room:message');
    const routes: [string, string, unknown?][] = [
      ['POST', '/rooms/iso/messages', { payload: 1, persistent: true }],
      ['GET', '/rooms/iso/messages'],
      ['POST', '/messages', { messages: [{ room: 'iso', payload: 2, persistent: true }] }],
      ['GET', '/rooms'],
      ['GET', '/rooms/iso'],
      ['GET', '/rooms/iso/presence'],
      ['DELETE', '/rooms/iso/members/alice'],
      ['GET', '/users/alice'],
      ['POST', '/users/alice/disconnect', {}],
      ['POST', '/users/alice/revoke', {}],
    ];
    for (const [method, path, body] of routes) {
      // Naming the other tenant is refused outright...
      const named = await api(C(), method, `${path}?tenantId=acme`, { key: KEYS.globex, ...(body !== undefined && { body }) });
      expect(named, `${method} ${path}`).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
    }
    for (const [method, path, body] of routes) {
      // ...and the same names without it are the key's own tenant's.
      const own = await api<Obj>(C(), method, path, { key: KEYS.globex, ...(body !== undefined && { body }) });
      expect(own.status, `${method} ${path}`).toBe(200);
    }
    expect((await api<{ messages: Obj[] }>(C(), 'GET', '/rooms/iso/messages', { key: KEYS.globex })).body.messages.map((m) => m.payload)).toEqual([1, 2]);
    expect((await api<Obj>(C(), 'GET', '/rooms/iso', { key: KEYS.globex })).body).toMatchObject({ users: 0 });
    expect((await api<Obj>(C(), 'GET', '/users/alice', { key: KEYS.globex })).body).toMatchObject({ online: false, connections: [] });
    // Nothing reached acme's alice: still connected, still in the room, no message of globex's.
    expect(alice.socket.connected).toBe(true);
    expect(await request(alice.socket, 'query:rooms')).toEqual({ success: true, rooms: ['iso'] });
    expect(msgs).toEqual([]);
    expect((await api<{ messages: Obj[] }>(A(), 'GET', '/rooms/iso/messages', { key: KEYS.acme })).body.messages.map((m) => m.payload)).toEqual(['acme only']);
    expect((await connect(A(), { claims: { sub: 'alice', tenantId: 'acme' } })).established.userId).toBe('alice');
  });
});
