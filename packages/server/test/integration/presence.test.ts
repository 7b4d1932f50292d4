import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceInfo } from '@intelgraph/websocket-protocol';
import { closeAll, collect, connect, next, request, sleep } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

type Presence = { success: true; presence: PresenceInfo[] };

describe('presence', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ HEARTBEAT_INTERVAL: '200', HEARTBEAT_TIMEOUT: '600' });
  });
  afterAll(async () => srv.close());
  afterEach(() => closeAll());

  let n = 0;
  const room = () => `presence-${++n}`;

  it('announces presence:join to the other members, not to the joining connection', async () => {
    const r = room();
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: r });
    const ownJoins = collect(b.socket, 'presence:join');
    const seen = next<{ room: string; user: PresenceInfo }>(a.socket, 'presence:join');
    await request(b.socket, 'room:join', { room: r, metadata: { role: 'analyst' } });
    expect(await seen).toEqual({ room: r, user: { userId: 'bob', status: 'online', lastSeen: expect.any(Number), connections: 1, metadata: { role: 'analyst' } } });
    await sleep(100);
    expect(ownJoins).toEqual([]);
  });

  it('query:presence lists one entry per user, aggregated over the user\'s connections', async () => {
    const r = room();
    const tab1 = await connect(srv.url, { claims: { sub: 'alice' } });
    const tab2 = await connect(srv.url, { claims: { sub: 'alice' } });
    const bob = await connect(srv.url, { claims: { sub: 'bob' } });
    for (const c of [tab1, tab2, bob]) await request(c.socket, 'room:join', { room: r });
    const p = await request<Presence>(bob.socket, 'query:presence', { room: r });
    expect(p.success).toBe(true);
    const byUser = Object.fromEntries(p.presence.map((e) => [e.userId, e]));
    expect(Object.keys(byUser).sort()).toEqual(['alice', 'bob']);
    expect(byUser.alice).toMatchObject({ status: 'online', connections: 2 });
    expect(byUser.bob).toMatchObject({ status: 'online', connections: 1 });
  });

  it('sends presence:leave only when the user\'s last connection leaves (leave, then disconnect)', async () => {
    const r = room();
    const tab1 = await connect(srv.url, { claims: { sub: 'alice' } });
    const tab2 = await connect(srv.url, { claims: { sub: 'alice' } });
    const bob = await connect(srv.url, { claims: { sub: 'bob' } });
    for (const c of [tab1, tab2, bob]) await request(c.socket, 'room:join', { room: r });
    const leaves = collect<{ room: string; userId: string }>(bob.socket, 'presence:leave');
    const update = next<{ presence: PresenceInfo[] }>(bob.socket, 'presence:update');
    await request(tab1.socket, 'room:leave', { room: r });
    expect((await update).presence).toEqual([expect.objectContaining({ userId: 'alice', connections: 1 })]);
    await sleep(100);
    expect(leaves).toEqual([]);
    const left = next(bob.socket, 'presence:leave');
    tab2.socket.disconnect();
    expect(await left).toEqual({ room: r, userId: 'alice' });
    const p = await request<Presence>(bob.socket, 'query:presence', { room: r });
    expect(p.presence.map((e) => e.userId)).toEqual(['bob']);
  });

  it('presence:status changes the status in every room of the connection, announcing changed entries only', async () => {
    const r1 = room();
    const r2 = room();
    const alice = await connect(srv.url, { claims: { sub: 'alice' } });
    const bob = await connect(srv.url, { claims: { sub: 'bob' } });
    const carol = await connect(srv.url, { claims: { sub: 'carol' } });
    await request(alice.socket, 'room:join', { room: r1 });
    await request(alice.socket, 'room:join', { room: r2 });
    await request(bob.socket, 'room:join', { room: r1 });
    await request(carol.socket, 'room:join', { room: r2 });
    const u1 = next<{ room: string; presence: PresenceInfo[] }>(bob.socket, 'presence:update');
    const u2 = next<{ room: string; presence: PresenceInfo[] }>(carol.socket, 'presence:update');
    expect(await request(alice.socket, 'presence:status', { status: 'busy', metadata: { note: 'in a call' } })).toEqual({ success: true });
    for (const [u, r] of [[await u1, r1], [await u2, r2]] as const) {
      expect(u.room).toBe(r);
      expect(u.presence).toEqual([{ userId: 'alice', status: 'busy', lastSeen: expect.any(Number), connections: 1, metadata: { note: 'in a call' } }]);
    }
    const p = await request<Presence>(bob.socket, 'query:presence', { room: r1 });
    expect(p.presence.find((e) => e.userId === 'bob')?.status).toBe('online');
  });

  it('aggregates status over a user\'s connections: busy wins, else the most available', async () => {
    const r = room();
    const tab1 = await connect(srv.url, { claims: { sub: 'alice' } });
    const tab2 = await connect(srv.url, { claims: { sub: 'alice' } });
    const bob = await connect(srv.url, { claims: { sub: 'bob' } });
    for (const c of [tab1, tab2, bob]) await request(c.socket, 'room:join', { room: r });
    const status = async () => (await request<Presence>(bob.socket, 'query:presence', { room: r })).presence.find((e) => e.userId === 'alice')?.status;
    await request(tab1.socket, 'presence:status', { status: 'away' });
    expect(await status()).toBe('online');
    await request(tab2.socket, 'presence:status', { status: 'offline' });
    expect(await status()).toBe('away');
    await request(tab2.socket, 'presence:status', { status: 'busy' });
    expect(await status()).toBe('busy');
  });

  it('a new connection starts online and keeps a status set before joining', async () => {
    const r = room();
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    await request(b.socket, 'room:join', { room: r });
    await request(a.socket, 'presence:status', { status: 'away' });
    const joined = next<{ user: PresenceInfo }>(b.socket, 'presence:join');
    await request(a.socket, 'room:join', { room: r });
    expect((await joined).user.status).toBe('away');
  });

  it('presence:heartbeat answers success, refreshes lastSeen and may carry a status', async () => {
    const r = room();
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: r });
    await request(b.socket, 'room:join', { room: r });
    const before = (await request<Presence>(b.socket, 'query:presence', { room: r })).presence.find((e) => e.userId === 'alice')?.lastSeen ?? 0;
    await sleep(20);
    expect(await request(a.socket, 'presence:heartbeat', {})).toEqual({ success: true });
    expect(await request(a.socket, 'presence:heartbeat')).toEqual({ success: true });
    const after = (await request<Presence>(b.socket, 'query:presence', { room: r })).presence.find((e) => e.userId === 'alice')?.lastSeen ?? 0;
    expect(after).toBeGreaterThan(before);
    const update = next<{ presence: PresenceInfo[] }>(b.socket, 'presence:update');
    expect(await request(a.socket, 'presence:heartbeat', { status: 'away' })).toEqual({ success: true });
    expect((await update).presence[0]).toMatchObject({ userId: 'alice', status: 'away' });
  });

  it('keeps entries of live connections beyond HEARTBEAT_TIMEOUT (the server touches them)', async () => {
    const r = room();
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: r });
    await request(b.socket, 'room:join', { room: r });
    const leaves = collect(b.socket, 'presence:leave');
    await sleep(1500);
    expect(leaves).toEqual([]);
    expect((await request<Presence>(b.socket, 'query:presence', { room: r })).presence).toHaveLength(2);
  });
});
