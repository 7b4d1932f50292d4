import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, collect, connect, next, request, sleep } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

describe('rooms and messaging', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer(
      { MAX_MESSAGE_BYTES: '1024' },
      {
        authorize: (ctx, action, room) =>
          !(room === 'vip' && !ctx.roles.includes('vip')) &&
          !(action === 'join' && room === 'hook-throws' && fail()) &&
          !(action === 'send' && room === 'read-only') &&
          !(action === 'presence' && room === 'hidden' && !ctx.rooms),
      },
    );
  });
  afterAll(async () => srv.close());
  afterEach(() => closeAll());

  const fail = (): boolean => {
    throw new Error('hook failure');
  };

  it('join: ack, room:joined with metadata, query:rooms; leave: ack, room:left', async () => {
    const { socket } = await connect(srv.url);
    const joined = next(socket, 'room:joined');
    expect(await request(socket, 'room:join', { room: 'investigation:1', metadata: { investigationId: '1' } })).toEqual({
      success: true,
      room: 'investigation:1',
      lastId: expect.stringMatching(/^\d{16}-[a-z0-9]{8}$/),
    });
    expect(await joined).toEqual({ room: 'investigation:1', metadata: { investigationId: '1' } });
    expect(await request(socket, 'query:rooms')).toEqual({ success: true, rooms: ['investigation:1'] });
    const left = next(socket, 'room:left');
    expect(await request(socket, 'room:leave', { room: 'investigation:1' })).toEqual({ success: true, room: 'investigation:1' });
    expect(await left).toEqual({ room: 'investigation:1' });
    expect(await request(socket, 'query:rooms')).toEqual({ success: true, rooms: [] });
  });

  it('joining twice is idempotent', async () => {
    const { socket } = await connect(srv.url);
    await request(socket, 'room:join', { room: 'twice' });
    expect(await request(socket, 'room:join', { room: 'twice' })).toMatchObject({ success: true });
    expect(await request(socket, 'query:rooms')).toEqual({ success: true, rooms: ['twice'] });
  });

  it('delivers to every member but the sending connection, including the sender\'s other connections', async () => {
    const a1 = await connect(srv.url, { claims: { sub: 'alice' } });
    const a2 = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    for (const c of [a1, a2, b]) await request(c.socket, 'room:join', { room: 'team' });
    const own = collect(a1.socket, 'room:message');
    const toA2 = next(a2.socket, 'room:message');
    const toB = next(b.socket, 'room:message');
    const ack = await request<{ success: true; messageId: string }>(a1.socket, 'room:send', { room: 'team', payload: { text: 'hello' } });
    expect(ack).toEqual({ success: true, messageId: expect.stringMatching(/^\d{16}-[a-z0-9]{8}$/) });
    const msg = await toB;
    expect(msg).toEqual({ id: ack.messageId, room: 'team', from: 'alice', payload: { text: 'hello' }, timestamp: expect.any(Number) });
    expect(Math.abs((msg.timestamp as number) - Date.now())).toBeLessThan(5000);
    expect(await toA2).toEqual(msg);
    await sleep(100);
    expect(own).toEqual([]);
  });

  it('accepts any JSON value as payload', async () => {
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: 'json' });
    await request(b.socket, 'room:join', { room: 'json' });
    const got = collect<{ payload: unknown }>(b.socket, 'room:message');
    const payloads = ['text', 42, true, null, [1, 'two', { three: 3 }], { nested: { deep: [null] } }];
    for (const payload of payloads) expect(await request(a.socket, 'room:send', { room: 'json', payload })).toMatchObject({ success: true });
    await sleep(100);
    expect(got.map((m) => m.payload)).toEqual(payloads);
  });

  it('keeps tenants apart: the same room name in two tenants is two rooms', async () => {
    const acme = await connect(srv.url, { claims: { sub: 'alice', tenantId: 'acme' } });
    const globex = await connect(srv.url, { claims: { sub: 'gina', tenantId: 'globex' } });
    const acme2 = await connect(srv.url, { claims: { sub: 'bob', tenantId: 'acme' } });
    for (const c of [acme, globex, acme2]) await request(c.socket, 'room:join', { room: 'shared' });
    const leaked = collect(globex.socket, 'room:message');
    const leakedPresence = collect(globex.socket, 'presence:join');
    const got = next(acme2.socket, 'room:message');
    await request(acme.socket, 'room:send', { room: 'shared', payload: 'secret' });
    expect(await got).toMatchObject({ payload: 'secret' });
    // Names that look like other tenants' internal keys are just invalid or separate rooms.
    expect(await request(globex.socket, 'room:join', { room: 'acme#shared' })).toMatchObject({ success: false, error: 'INVALID_ROOM' });
    await sleep(100);
    expect(leaked).toEqual([]);
    expect(leakedPresence).toEqual([]);
    const presence = await request<{ presence: { userId: string }[] }>(globex.socket, 'query:presence', { room: 'shared' });
    expect(presence.presence.map((p) => p.userId)).toEqual(['gina']);
  });

  it.each([
    ['an empty name', ''],
    ['a too long name', 'x'.repeat(129)],
    ['spaces', 'a room'],
    ['a hash', 'a#b'],
    ['non-ASCII', 'café'],
    ['a number', 42],
    ['null', null],
  ])('refuses %s with INVALID_ROOM', async (_n, room) => {
    const { socket } = await connect(srv.url);
    expect(await request(socket, 'room:join', { room })).toMatchObject({ success: false, error: 'INVALID_ROOM' });
    expect(await request(socket, 'room:send', { room, payload: 1 })).toMatchObject({ success: false, error: 'INVALID_ROOM' });
    expect(await request(socket, 'room:leave', { room })).toMatchObject({ success: false, error: 'INVALID_ROOM' });
  });

  it('accepts the longest valid name and every allowed character', async () => {
    const { socket } = await connect(srv.url);
    expect(await request(socket, 'room:join', { room: 'A'.repeat(128) })).toMatchObject({ success: true });
    expect(await request(socket, 'room:join', { room: 'Az09:_.@/-' })).toMatchObject({ success: true });
  });

  it('refuses sends and leaves outside the room with NOT_IN_ROOM', async () => {
    const { socket } = await connect(srv.url);
    expect(await request(socket, 'room:send', { room: 'elsewhere', payload: 1 })).toMatchObject({ success: false, error: 'NOT_IN_ROOM' });
    expect(await request(socket, 'room:leave', { room: 'elsewhere' })).toMatchObject({ success: false, error: 'NOT_IN_ROOM' });
  });

  it.each([
    ['no payload object', 'room:join', undefined],
    ['a string payload', 'room:join', 'chat'],
    ['an array payload', 'room:join', ['chat']],
    ['metadata of the wrong type', 'room:join', { room: 'chat', metadata: 'x' }],
    ['since of the wrong type', 'room:join', { room: 'chat', since: 5 }],
    ['persistent of the wrong type', 'room:send', { room: 'chat', payload: 1, persistent: 'yes' }],
    ['a missing payload', 'room:send', { room: 'chat' }],
    ['a bad clientMessageId', 'room:send', { room: 'chat', payload: 1, clientMessageId: 'has spaces' }],
    ['a bad history limit', 'room:history', { room: 'chat', limit: 0 }],
    ['a fractional history limit', 'room:history', { room: 'chat', limit: 1.5 }],
    ['an invalid status', 'presence:status', { status: 'sleeping' }],
    ['a status of the wrong type', 'presence:status', { status: 1 }],
    ['a heartbeat with an invalid status', 'presence:heartbeat', { status: 'gone' }],
  ])('answers %s with INVALID_PAYLOAD', async (_n, event, payload) => {
    const { socket } = await connect(srv.url);
    await request(socket, 'room:join', { room: 'chat' });
    const ack = await (payload === undefined ? request(socket, event) : request(socket, event, payload));
    expect(ack).toMatchObject({ success: false, error: 'INVALID_PAYLOAD', message: expect.any(String) });
    expect(socket.connected).toBe(true);
  });

  it('refuses oversized payloads with PAYLOAD_TOO_LARGE and keeps the connection', async () => {
    const { socket } = await connect(srv.url);
    await request(socket, 'room:join', { room: 'big' });
    expect(await request(socket, 'room:send', { room: 'big', payload: 'x'.repeat(1000) })).toMatchObject({ success: true });
    expect(await request(socket, 'room:send', { room: 'big', payload: 'x'.repeat(1100) })).toMatchObject({ success: false, error: 'PAYLOAD_TOO_LARGE' });
    expect(await request(socket, 'room:join', { room: 'big2', metadata: { blob: 'x'.repeat(5000) } })).toMatchObject({ success: false, error: 'PAYLOAD_TOO_LARGE' });
    expect(socket.connected).toBe(true);
  });

  it('refuses binary attachments and too deep nesting with INVALID_PAYLOAD', async () => {
    const { socket } = await connect(srv.url);
    await request(socket, 'room:join', { room: 'bin' });
    expect(await request(socket, 'room:send', { room: 'bin', payload: Buffer.from([1, 2, 3]) })).toMatchObject({ success: false, error: 'INVALID_PAYLOAD' });
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(await request(socket, 'room:send', { room: 'bin', payload: deep })).toMatchObject({ success: false, error: 'INVALID_PAYLOAD' });
    expect(socket.connected).toBe(true);
  });

  it('answers unknown events with INVALID_PAYLOAD (ack or system:error) and keeps the connection', async () => {
    const { socket } = await connect(srv.url);
    expect(await request(socket, 'room:destroy', { room: 'x' })).toMatchObject({ success: false, error: 'INVALID_PAYLOAD' });
    const err = next<{ code: string; message: string }>(socket, 'system:error');
    (socket as unknown as { emit(e: string, d: unknown): void }).emit('no:such', 1);
    expect(await err).toMatchObject({ code: 'INVALID_PAYLOAD', message: expect.stringContaining('no:such') });
    expect(socket.connected).toBe(true);
  });

  it('reports a failure without an ack callback as system:error', async () => {
    const { socket } = await connect(srv.url);
    const err = next<{ code: string }>(socket, 'system:error');
    (socket as unknown as { emit(e: string, d: unknown): void }).emit('room:send', { room: 'nowhere', payload: 1 });
    expect(await err).toMatchObject({ code: 'NOT_IN_ROOM' });
  });

  it('enforces the rooms claim patterns with FORBIDDEN', async () => {
    const { socket } = await connect(srv.url, { claims: { rooms: ['investigation:*', 'lobby'] } });
    expect(await request(socket, 'room:join', { room: 'investigation:42' })).toMatchObject({ success: true });
    expect(await request(socket, 'room:join', { room: 'lobby' })).toMatchObject({ success: true });
    expect(await request(socket, 'room:join', { room: 'lobby2' })).toMatchObject({ success: false, error: 'FORBIDDEN' });
    expect(await request(socket, 'room:join', { room: 'admin' })).toMatchObject({ success: false, error: 'FORBIDDEN' });
    expect(await request(socket, 'room:history', { room: 'admin' })).toMatchObject({ success: false, error: 'FORBIDDEN' });
    expect(await request(socket, 'query:presence', { room: 'admin' })).toMatchObject({ success: false, error: 'FORBIDDEN' });
  });

  it('applies the authorize hook, refusing when it says no or throws', async () => {
    const plain = await connect(srv.url, { claims: { roles: [] } });
    const vip = await connect(srv.url, { claims: { roles: ['vip'] } });
    expect(await request(plain.socket, 'room:join', { room: 'vip' })).toMatchObject({ success: false, error: 'FORBIDDEN' });
    expect(await request(vip.socket, 'room:join', { room: 'vip' })).toMatchObject({ success: true });
    expect(await request(vip.socket, 'room:join', { room: 'hook-throws' })).toMatchObject({ success: false, error: 'FORBIDDEN' });
  });

  it('asks the authorize hook for send and presence, with the rooms claim in the context', async () => {
    const { socket } = await connect(srv.url);
    expect(await request(socket, 'room:join', { room: 'read-only' })).toMatchObject({ success: true });
    expect(await request(socket, 'room:send', { room: 'read-only', payload: 1 })).toMatchObject({ success: false, error: 'FORBIDDEN' });
    expect(await request(socket, 'query:presence', { room: 'hidden' })).toMatchObject({ success: false, error: 'FORBIDDEN' });
    const scoped = await connect(srv.url, { claims: { rooms: ['hidden'] } });
    expect(await request(scoped.socket, 'query:presence', { room: 'hidden' })).toMatchObject({ success: true, presence: [] });
  });

  it('works over HTTP long-polling too', async () => {
    const a = await connect(srv.url, { claims: { sub: 'alice' }, transports: ['polling'] });
    const b = await connect(srv.url, { claims: { sub: 'bob' }, transports: ['polling'] });
    await request(a.socket, 'room:join', { room: 'poll' });
    await request(b.socket, 'room:join', { room: 'poll' });
    const got = next(b.socket, 'room:message');
    await request(a.socket, 'room:send', { room: 'poll', payload: 'over polling' });
    expect(await got).toMatchObject({ payload: 'over polling', from: 'alice' });
  });

  it('keeps serving others while one client misbehaves', async () => {
    const bad = await connect(srv.url, { claims: { sub: 'mallory' } });
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: 'calm' });
    await request(b.socket, 'room:join', { room: 'calm' });
    const raw = bad.socket as unknown as { emit(e: string, ...d: unknown[]): void };
    for (let i = 0; i < 50; i++) raw.emit(['room:join', 'room:send', 'presence:status', 'x'][i % 4] as string, { room: { $gt: '' }, payload: () => 1, status: [] }, () => {});
    const got = next(b.socket, 'room:message');
    await request(a.socket, 'room:send', { room: 'calm', payload: 'still here' });
    expect(await got).toMatchObject({ payload: 'still here' });
  });
});
