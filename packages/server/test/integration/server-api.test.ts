import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, API_KEYS, enc, KEYS } from '../helpers/api.js';
import { closeAll, connect, connectError, next, request, until } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { mintToken } from '../helpers/tokens.js';

type Obj = Record<string, unknown>;

describe('server API v1 (embedded engine)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ API_KEYS, MAX_MESSAGE_BYTES: '2048', API_MAX_BODY_BYTES: '65536' });
  });
  afterAll(async () => srv.close());
  afterEach(() => closeAll());

  it('refuses calls without a key, with an unknown key, and tenant keys acting on another tenant', async () => {
    expect(await api(srv.url, 'GET', '/rooms/r1')).toMatchObject({ status: 401, body: { error: 'AUTH_REQUIRED' } });
    expect(await api(srv.url, 'GET', '/rooms/r1', { key: `${KEYS.acme}x` })).toMatchObject({ status: 401, body: { error: 'AUTH_INVALID' } });
    expect(await api(srv.url, 'GET', '/rooms/r1', { key: KEYS.acme })).toMatchObject({ status: 200, body: { room: 'r1' } });
    // Both keys of a tenant work during a rotation.
    expect((await api(srv.url, 'GET', '/rooms/r1', { key: KEYS.acmeRotated })).status).toBe(200);
    expect(await api(srv.url, 'GET', '/rooms/r1?tenantId=acme', { key: KEYS.acme })).toMatchObject({ status: 200 });
    expect(await api(srv.url, 'GET', '/rooms/r1?tenantId=globex', { key: KEYS.acme })).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
    // An operator key names the tenant.
    expect(await api(srv.url, 'GET', '/rooms/r1', { key: KEYS.operator })).toMatchObject({ status: 400, body: { error: 'INVALID_PAYLOAD' } });
    expect(await api(srv.url, 'GET', '/rooms/r1?tenantId=globex', { key: KEYS.operator })).toMatchObject({ status: 200 });
    expect(await api(srv.url, 'GET', '/rooms/r1?tenantId=bad%20tenant', { key: KEYS.operator })).toMatchObject({ status: 400 });
    for (const path of ['/instances', '/tenants']) {
      expect(await api(srv.url, 'GET', path, { key: KEYS.acme })).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
      expect((await api(srv.url, 'GET', path, { key: KEYS.operator })).status).toBe(200);
    }
  });

  it('publishes to a room, delivers to its members, and reads the history back', async () => {
    const { socket } = await connect(srv.url, { claims: { sub: 'bob', tenantId: 'acme' } });
    await request(socket, 'room:join', { room: 'news/today' });
    const got = next<Obj>(socket, 'room:message');
    const pub = await api<Obj>(srv.url, 'POST', `/rooms/${enc('news/today')}/messages`, { key: KEYS.acme, body: { payload: { n: 1 }, persistent: true, from: 'backend' } });
    expect(pub).toMatchObject({ status: 200, body: { duplicate: false } });
    expect(await got).toMatchObject({ id: pub.body.messageId, room: 'news/today', from: 'backend', payload: { n: 1 }, persistent: true });
    const history = await api<{ messages: Obj[]; hasMore: boolean }>(srv.url, 'GET', `/rooms/${enc('news/today')}/messages?limit=10`, { key: KEYS.acme });
    expect(history.status).toBe(200);
    expect(history.body.messages.map((m) => m.id)).toEqual([pub.body.messageId]);
    // Tenants do not share rooms.
    expect((await api<{ messages: Obj[] }>(srv.url, 'GET', `/rooms/${enc('news/today')}/messages`, { key: KEYS.globex })).body.messages).toEqual([]);
  });

  it('suppresses a repeated idempotency key and pages history both ways', async () => {
    const room = `/rooms/${enc('idem')}/messages`;
    const first = await api<Obj>(srv.url, 'POST', room, { key: KEYS.acme, body: { payload: 'a', persistent: true, idempotencyKey: 'order-1' } });
    const again = await api<Obj>(srv.url, 'POST', room, { key: KEYS.acme, body: { payload: 'a', persistent: true, idempotencyKey: 'order-1' } });
    expect(again.body).toEqual({ messageId: first.body.messageId, duplicate: true });
    for (const p of ['b', 'c', 'd']) await api(srv.url, 'POST', room, { key: KEYS.acme, body: { payload: p, persistent: true } });
    const newest = await api<{ messages: Obj[]; hasMore: boolean }>(srv.url, 'GET', `${room}?direction=backward&limit=2`, { key: KEYS.acme });
    expect(newest.body.messages.map((m) => m.payload)).toEqual(['d', 'c']);
    expect(newest.body.hasMore).toBe(true);
    const older = await api<{ messages: Obj[]; hasMore: boolean }>(srv.url, 'GET', `${room}?direction=backward&before=${newest.body.messages[1]?.id}`, { key: KEYS.acme });
    expect(older.body.messages.map((m) => m.payload)).toEqual(['b', 'a']);
    const since = await api<{ messages: Obj[] }>(srv.url, 'GET', `${room}?since=${first.body.messageId}`, { key: KEYS.acme });
    expect(since.body.messages.map((m) => m.payload)).toEqual(['b', 'c', 'd']);
    expect(await api(srv.url, 'GET', `${room}?since=nope`, { key: KEYS.acme })).toMatchObject({ status: 400, body: { error: 'INVALID_PAYLOAD' } });
    expect(await api(srv.url, 'GET', `${room}?limit=0`, { key: KEYS.acme })).toMatchObject({ status: 400 });
    expect(await api(srv.url, 'GET', `${room}?direction=sideways`, { key: KEYS.acme })).toMatchObject({ status: 400 });
  });

  it('publishes a batch, each message on its own', async () => {
    const res = await api<{ results: Obj[] }>(srv.url, 'POST', '/messages', {
      key: KEYS.acme,
      body: {
        messages: [
          { room: 'b1', payload: 1, persistent: true },
          { room: 'bad room', payload: 2 },
          { room: 'b1', payload: 'x'.repeat(4000) },
          { room: 'b2', payload: 3, idempotencyKey: 'k1' },
          { room: 'b1' },
          { room: 'b1', payload: 4, persistent: true },
        ],
      },
    });
    expect(res.status).toBe(200);
    const r = res.body.results;
    expect(r.map((x) => x.error ?? 'ok')).toEqual(['ok', 'INVALID_ROOM', 'PAYLOAD_TOO_LARGE', 'ok', 'INVALID_PAYLOAD', 'ok']);
    expect(r.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5]);
    const history = await api<{ messages: Obj[] }>(srv.url, 'GET', '/rooms/b1/messages', { key: KEYS.acme });
    expect(history.body.messages.map((m) => m.payload)).toEqual([1, 4]);
    expect((await api(srv.url, 'POST', '/messages', { key: KEYS.acme, body: { messages: [] } })).status).toBe(400);
    const tooMany = Array.from({ length: 101 }, () => ({ room: 'b1', payload: 1 }));
    expect(await api(srv.url, 'POST', '/messages', { key: KEYS.acme, body: { messages: tooMany } })).toMatchObject({ status: 400, body: { error: 'INVALID_PAYLOAD' } });
  });

  it('answers malformed and oversized bodies, unknown paths and methods with coded errors', async () => {
    const path = '/rooms/m/messages';
    expect(await api(srv.url, 'POST', path, { key: KEYS.acme, raw: '{"payload":', headers: { 'content-type': 'application/json' } })).toMatchObject({ status: 400, body: { error: 'INVALID_PAYLOAD' } });
    expect(await api(srv.url, 'POST', path, { key: KEYS.acme, raw: '{"payload":1}', headers: { 'content-type': 'text/plain' } })).toMatchObject({ status: 400, body: { error: 'INVALID_PAYLOAD' } });
    expect(await api(srv.url, 'POST', path, { key: KEYS.acme, body: [1, 2] })).toMatchObject({ status: 400, body: { error: 'INVALID_PAYLOAD' } });
    expect(await api(srv.url, 'POST', path, { key: KEYS.acme, body: { payload: 1, persistent: 'yes' } })).toMatchObject({ status: 400, body: { error: 'INVALID_PAYLOAD', message: expect.stringContaining('persistent') } });
    expect(await api(srv.url, 'POST', path, { key: KEYS.acme, body: { payload: 1, idempotencyKey: 'no spaces' } })).toMatchObject({ status: 400 });
    expect(await api(srv.url, 'POST', path, { key: KEYS.acme, body: { payload: 'x'.repeat(3000) } })).toMatchObject({ status: 413, body: { error: 'PAYLOAD_TOO_LARGE' } });
    expect(await api(srv.url, 'POST', path, { key: KEYS.acme, body: { payload: 'x'.repeat(10_000) } })).toMatchObject({ status: 413, body: { error: 'PAYLOAD_TOO_LARGE' } });
    expect(await api(srv.url, 'POST', '/messages', { key: KEYS.acme, body: { messages: [{ room: 'r', payload: 'x'.repeat(70_000) }] } })).toMatchObject({ status: 413 });
    expect(await api(srv.url, 'GET', `/rooms/${enc('not a room')}`, { key: KEYS.acme })).toMatchObject({ status: 400, body: { error: 'INVALID_ROOM' } });
    expect(await api(srv.url, 'GET', '/rooms/%E0%A4%A', { key: KEYS.acme })).toMatchObject({ status: 400, body: { error: 'INVALID_ROOM' } });
    expect(await api(srv.url, 'GET', `/users/${'u'.repeat(300)}`, { key: KEYS.acme })).toMatchObject({ status: 400 });
    expect(await api(srv.url, 'GET', '/nowhere', { key: KEYS.acme })).toMatchObject({ status: 404, body: { error: 'NOT_FOUND' } });
    const wrong = await api(srv.url, 'PUT', '/rooms/r1', { key: KEYS.acme });
    expect(wrong).toMatchObject({ status: 405, body: { error: 'METHOD_NOT_ALLOWED' } });
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect(await api(srv.url, 'POST', '/users/u1/disconnect', { key: KEYS.acme, body: { code: 'NOPE' } })).toMatchObject({ status: 400 });
    expect(await api(srv.url, 'POST', '/users/u1/revoke', { key: KEYS.acme, body: { before: Date.now() + 3_600_000 } })).toMatchObject({ status: 400 });
    // The server goes on serving.
    expect((await api(srv.url, 'GET', '/rooms/r1', { key: KEYS.acme })).status).toBe(200);
  });

  it('reports occupancy and presence, paged by user id', async () => {
    const users = ['u3', 'u1', 'u2'];
    for (const sub of users) {
      const { socket } = await connect(srv.url, { claims: { sub, tenantId: 'acme' } });
      await request(socket, 'room:join', { room: 'occ', metadata: { who: sub } });
      if (sub === 'u2') await request(socket, 'presence:status', { status: 'busy' });
    }
    const { socket: again } = await connect(srv.url, { claims: { sub: 'u1', tenantId: 'acme' } });
    await request(again, 'room:join', { room: 'occ' });
    expect((await api(srv.url, 'GET', '/rooms/occ', { key: KEYS.acme })).body).toEqual({ room: 'occ', connections: 4, users: 3, byStatus: { online: 2, away: 0, busy: 1, offline: 0 } });
    expect((await api(srv.url, 'GET', '/rooms/occ', { key: KEYS.globex })).body).toMatchObject({ connections: 0, users: 0 });
    const first = await api<{ presence: Obj[]; next?: string }>(srv.url, 'GET', '/rooms/occ/presence?limit=2', { key: KEYS.acme });
    expect(first.body.presence.map((p) => p.userId)).toEqual(['u1', 'u2']);
    expect(first.body.presence[0]).toMatchObject({ status: 'online', connections: 2 });
    const rest = await api<{ presence: Obj[]; next?: string }>(srv.url, 'GET', `/rooms/occ/presence?limit=2&cursor=${first.body.next}`, { key: KEYS.acme });
    expect(rest.body.presence.map((p) => p.userId)).toEqual(['u3']);
    expect(rest.body.next).toBeUndefined();
    expect(await api(srv.url, 'GET', '/rooms/occ/presence?cursor=***', { key: KEYS.acme })).toMatchObject({ status: 400 });
  });

  it("lists the tenant's rooms with occupancy, paged and by prefix; reports users, instances and tenants", async () => {
    const { socket: gina, established } = await connect(srv.url, { claims: { sub: 'gina', tenantId: 'acme' } });
    for (const room of ['list/a', 'list/b', 'list/c']) await request(gina, 'room:join', { room, metadata: { at: room } });
    const { socket: other } = await connect(srv.url, { claims: { sub: 'gina', tenantId: 'globex' } });
    await request(other, 'room:join', { room: 'list/z' });
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api<{ rooms: { room: string; users: number }[]; next?: string }>(srv.url, 'GET', `/rooms?prefix=list/&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { key: KEYS.acme });
      expect(page.status).toBe(200);
      names.push(...page.body.rooms.map((r) => r.room));
      cursor = page.body.next;
    } while (cursor);
    expect(names).toEqual(['list/a', 'list/b', 'list/c']);
    const all = await api<{ rooms: { room: string }[] }>(srv.url, 'GET', '/rooms?prefix=list', { key: KEYS.globex });
    expect(all.body.rooms).toEqual([{ room: 'list/z', connections: 1, users: 1, byStatus: { online: 1, away: 0, busy: 0, offline: 0 } }]);

    const user = await api<Obj>(srv.url, 'GET', '/users/gina', { key: KEYS.acme });
    expect(user.body).toMatchObject({ tenantId: 'acme', userId: 'gina', online: true });
    expect(user.body.connections).toEqual([{ connectionId: established.connectionId, instance: srv.server.config.serverId, connectedAt: expect.any(Number), rooms: ['list/a', 'list/b', 'list/c'] }]);
    expect(user.body.presence).toEqual(['list/a', 'list/b', 'list/c'].map((room) => ({ room, userId: 'gina', status: 'online', lastSeen: expect.any(Number), connections: 1, metadata: { at: room } })));
    expect((await api(srv.url, 'GET', '/users/nobody', { key: KEYS.acme })).body).toEqual({ tenantId: 'acme', userId: 'nobody', online: false, connections: [], presence: [] });

    const instances = await api<{ instances: Obj[] }>(srv.url, 'GET', '/instances', { key: KEYS.operator });
    expect(instances.body.instances).toEqual([expect.objectContaining({ serverId: srv.server.config.serverId, lifecycle: 'running' })]);
    await until(async () => {
      const t = await api<{ tenants: { tenantId: string; connections: number }[] }>(srv.url, 'GET', '/tenants', { key: KEYS.operator });
      return t.body.tenants.some((x) => x.tenantId === 'globex' && x.connections >= 1);
    }, 10_000, 'globex in the tenants report');
  });

  it('removes a member from a room: room:left with a reason, presence leave for the others', async () => {
    const { socket: carol } = await connect(srv.url, { claims: { sub: 'carol', tenantId: 'acme' } });
    const { socket: dave } = await connect(srv.url, { claims: { sub: 'dave', tenantId: 'acme' } });
    await request(carol, 'room:join', { room: 'rm' });
    await request(carol, 'room:join', { room: 'other' });
    await request(dave, 'room:join', { room: 'rm' });
    const left = next<Obj>(carol, 'room:left');
    const gone = next<Obj>(dave, 'presence:leave', (d) => d.userId === 'carol');
    const res = await api(srv.url, 'DELETE', '/rooms/rm/members/carol', { key: KEYS.acme });
    expect(res).toMatchObject({ status: 200, body: { room: 'rm', userId: 'carol', connections: 1 } });
    expect(await left).toEqual({ room: 'rm', reason: 'removed' });
    expect(await gone).toEqual({ room: 'rm', userId: 'carol' });
    expect(await request(carol, 'query:rooms')).toEqual({ success: true, rooms: ['other'] });
    expect(await request(carol, 'room:send', { room: 'rm', payload: 1 })).toMatchObject({ success: false, error: 'NOT_IN_ROOM' });
    expect(carol.connected).toBe(true);
    // Another tenant's key removes nothing of acme's.
    await request(carol, 'room:join', { room: 'rm' });
    expect(await api(srv.url, 'DELETE', '/rooms/rm/members/carol', { key: KEYS.globex })).toMatchObject({ status: 200, body: { connections: 0 } });
    expect(await request(carol, 'query:rooms')).toMatchObject({ rooms: expect.arrayContaining(['rm']) });
  });

  it("disconnects every connection of a user with the code given; other users' stay", async () => {
    const a = await connect(srv.url, { claims: { sub: 'erin', tenantId: 'acme' } });
    const b = await connect(srv.url, { claims: { sub: 'erin', tenantId: 'acme' } });
    const other = await connect(srv.url, { claims: { sub: 'erin', tenantId: 'globex' } });
    const errors = [a, b].map(({ socket }) => next<Obj>(socket, 'system:error'));
    const closed = [a, b].map(({ socket }) => new Promise<string>((resolve) => socket.once('disconnect', resolve)));
    const res = await api(srv.url, 'POST', '/users/erin/disconnect', { key: KEYS.acme, body: { code: 'FORBIDDEN', reason: 'access withdrawn' } });
    expect(res).toMatchObject({ status: 200, body: { userId: 'erin', code: 'FORBIDDEN' } });
    for (const e of errors) expect(await e).toEqual({ code: 'FORBIDDEN', message: 'access withdrawn', disconnect: true });
    expect(await Promise.all(closed)).toEqual(['io server disconnect', 'io server disconnect']);
    expect(other.socket.connected).toBe(true);
    // Without a body: FORBIDDEN with a default message.
    const c = await connect(srv.url, { claims: { sub: 'erin', tenantId: 'acme' } });
    const e = next<Obj>(c.socket, 'system:error');
    expect((await api(srv.url, 'POST', '/users/erin/disconnect', { key: KEYS.acme })).status).toBe(200);
    expect(await e).toMatchObject({ code: 'FORBIDDEN', disconnect: true });
  });

  it('revokes tokens issued before a time: live connections closed, handshakes and refreshes refused, newer tokens accepted', async () => {
    const issued = Math.floor(Date.now() / 1000) - 10;
    const old = await mintToken({ sub: 'frank', tenantId: 'acme', iat: issued });
    const { socket } = await connect(srv.url, { token: old });
    const { socket: kept } = await connect(srv.url, { token: await mintToken({ sub: 'frank', tenantId: 'acme', iat: issued + 20 }) });
    const err = next<Obj>(socket, 'system:error');
    const before = (issued + 5) * 1000;
    const res = await api<Obj>(srv.url, 'POST', '/users/frank/revoke', { key: KEYS.acme, body: { before } });
    expect(res).toMatchObject({ status: 200, body: { userId: 'frank', before } });
    expect(res.body.expiresAt).toBe(before + 7 * 86_400_000);
    expect(await err).toMatchObject({ code: 'TOKEN_REVOKED', disconnect: true });
    await until(() => !socket.connected);
    expect(kept.connected).toBe(true);
    expect((await connectError(srv.url, { token: old })).data).toMatchObject({ code: 'TOKEN_REVOKED' });
    expect((await connectError(srv.url, { token: await mintToken({ sub: 'frank', tenantId: 'acme', iat: null }) })).data).toMatchObject({ code: 'TOKEN_REVOKED' });
    expect(await request(kept, 'auth:refresh', { token: old })).toMatchObject({ success: false, error: 'TOKEN_REVOKED' });
    // The same user of another tenant is untouched.
    await connect(srv.url, { token: await mintToken({ sub: 'frank', tenantId: 'globex', iat: issued }) });
    // An earlier revocation does not undo a later one.
    expect((await api<Obj>(srv.url, 'POST', '/users/frank/revoke', { key: KEYS.acme, body: { before: before - 60_000 } })).body.before).toBe(before);
  });

  it('takes the API keys at POST /api/publish too: operator keys for any tenant, a tenant key for its own', async () => {
    const publish = (key: string, tenantId: string) =>
      fetch(`${srv.url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ tenantId, room: 'legacy', payload: 1 }) });
    expect((await publish(KEYS.operator, 'globex')).status).toBe(200);
    expect((await publish(KEYS.acme, 'acme')).status).toBe(200);
    const refused = await publish(KEYS.acme, 'globex');
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'FORBIDDEN' });
    expect((await publish(`${KEYS.acme}x`, 'acme')).status).toBe(401);
  });

  it('rate-limits calls per key, with Retry-After', async () => {
    const limited = await startTestServer({ API_KEYS, API_RATE_LIMIT_PER_SECOND: '1', API_RATE_LIMIT_BURST: '2' });
    try {
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await api(limited.url, 'GET', '/rooms/r', { key: KEYS.acme })).status);
      expect(codes).toEqual([200, 200, 429]);
      const refused = await api<Obj>(limited.url, 'GET', '/rooms/r', { key: KEYS.acme });
      expect(refused.body).toMatchObject({ error: 'RATE_LIMITED', retryAfterMs: expect.any(Number) });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // Each key has its own bucket.
      expect((await api(limited.url, 'GET', '/rooms/r', { key: KEYS.acmeRotated })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('is disabled without keys, but still describes itself', async () => {
    const bare = await startTestServer({});
    try {
      expect(await api(bare.url, 'GET', '/rooms/r', { key: KEYS.acme })).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
      expect((await api<Obj>(bare.url, 'GET', '/openapi.json')).body).toMatchObject({ openapi: '3.1.0' });
    } finally {
      await bare.close();
    }
  });
});
