import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, connect, connectError, request } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

type SendAck = { success: boolean; error?: string; retryAfterMs?: number };

async function burst(socket: Parameters<typeof request>[0], room: string, n: number): Promise<SendAck[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => request<SendAck>(socket, 'room:send', { room, payload: i })));
}

describe('limits', () => {
  let srv: TestServer | undefined;
  afterEach(async () => {
    closeAll();
    await srv?.close();
    srv = undefined;
  });

  it('a burst of 400 sends in a second from one connection meets RATE_LIMITED, and the connection stays', async () => {
    srv = await startTestServer();
    const { socket } = await connect(srv.url);
    await request(socket, 'room:join', { room: 'flood' });
    const acks = await burst(socket, 'flood', 400);
    const ok = acks.filter((a) => a.success).length;
    const limited = acks.filter((a) => a.error === 'RATE_LIMITED');
    expect(ok).toBeGreaterThanOrEqual(100);
    expect(ok).toBeLessThan(400);
    expect(limited.length).toBe(400 - ok);
    expect(limited[0]?.retryAfterMs).toBeGreaterThan(0);
    expect(socket.connected).toBe(true);
    expect(await request(socket, 'query:rooms')).toEqual({ success: true, rooms: ['flood'] });
  });

  it('limits one user over all connections', async () => {
    srv = await startTestServer({ RATE_LIMIT_MESSAGES_PER_SECOND: '0', RATE_LIMIT_USER_MESSAGES_PER_SECOND: '5', RATE_LIMIT_USER_MESSAGES_BURST: '10' });
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'alice' } });
    const other = await connect(srv.url, { claims: { sub: 'bob' } });
    for (const c of [a, b, other]) await request(c.socket, 'room:join', { room: 'r' });
    const acks = [...(await burst(a.socket, 'r', 8)), ...(await burst(b.socket, 'r', 8))];
    expect(acks.filter((x) => x.success).length).toBeLessThanOrEqual(11);
    expect(acks.some((x) => x.error === 'RATE_LIMITED')).toBe(true);
    expect((await burst(other.socket, 'r', 5)).every((x) => x.success)).toBe(true);
  });

  it('limits one tenant over all users', async () => {
    srv = await startTestServer({ RATE_LIMIT_MESSAGES_PER_SECOND: '0', RATE_LIMIT_USER_MESSAGES_PER_SECOND: '0', RATE_LIMIT_TENANT_MESSAGES_PER_SECOND: '5', RATE_LIMIT_TENANT_MESSAGES_BURST: '10' });
    const a = await connect(srv.url, { claims: { sub: 'alice', tenantId: 'acme' } });
    const b = await connect(srv.url, { claims: { sub: 'bob', tenantId: 'acme' } });
    const g = await connect(srv.url, { claims: { sub: 'gina', tenantId: 'globex' } });
    for (const c of [a, b, g]) await request(c.socket, 'room:join', { room: 'r' });
    const acks = [...(await burst(a.socket, 'r', 8)), ...(await burst(b.socket, 'r', 8))];
    expect(acks.filter((x) => x.success).length).toBeLessThanOrEqual(11);
    expect(acks.some((x) => x.error === 'RATE_LIMITED')).toBe(true);
    expect((await burst(g.socket, 'r', 8)).every((x) => x.success)).toBe(true);
  });

  it('0 turns a limit off', async () => {
    srv = await startTestServer({ RATE_LIMIT_MESSAGES_PER_SECOND: '0', RATE_LIMIT_USER_MESSAGES_PER_SECOND: '0', RATE_LIMIT_TENANT_MESSAGES_PER_SECOND: '0' });
    const { socket } = await connect(srv.url);
    await request(socket, 'room:join', { room: 'free' });
    expect((await burst(socket, 'free', 600)).every((a) => a.success)).toBe(true);
  });

  it('caps connections per user with CONNECTION_LIMIT, freeing the slot on disconnect', async () => {
    srv = await startTestServer({ MAX_CONNECTIONS_PER_USER: '2' });
    const first = await connect(srv.url, { claims: { sub: 'alice' } });
    await connect(srv.url, { claims: { sub: 'alice' } });
    const refused = await connectError(srv.url, { claims: { sub: 'alice' } });
    expect(refused.message).toBe('CONNECTION_LIMIT');
    expect((await connect(srv.url, { claims: { sub: 'bob' } })).established.userId).toBe('bob');
    first.socket.disconnect();
    await new Promise((r) => setTimeout(r, 100));
    expect((await connect(srv.url, { claims: { sub: 'alice' } })).established.userId).toBe('alice');
  });

  it('caps rooms per connection with ROOM_LIMIT', async () => {
    srv = await startTestServer({ MAX_ROOMS_PER_CONNECTION: '3' });
    const { socket } = await connect(srv.url);
    for (const room of ['a', 'b', 'c']) expect(await request(socket, 'room:join', { room })).toMatchObject({ success: true });
    expect(await request(socket, 'room:join', { room: 'd' })).toMatchObject({ success: false, error: 'ROOM_LIMIT' });
    await request(socket, 'room:leave', { room: 'a' });
    expect(await request(socket, 'room:join', { room: 'd' })).toMatchObject({ success: true });
    expect(socket.connected).toBe(true);
  });

  it('limits handshakes per client address with RATE_LIMITED', async () => {
    srv = await startTestServer({ RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: '1', RATE_LIMIT_CONNECTIONS_PER_IP_BURST: '3' });
    for (let i = 0; i < 3; i++) await connect(srv.url, { claims: { sub: `u${i}` } });
    const refused = await connectError(srv.url, { claims: { sub: 'u9' } });
    expect(refused.message).toBe('RATE_LIMITED');
    expect(refused.data.retryAfterMs).toBeGreaterThan(0);
  });

  it('uses the first X-Forwarded-For hop only with TRUST_PROXY=true', async () => {
    srv = await startTestServer({ RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: '1', RATE_LIMIT_CONNECTIONS_PER_IP_BURST: '1', TRUST_PROXY: 'true' });
    await connect(srv.url, { extraHeaders: { 'x-forwarded-for': '203.0.113.1, 10.0.0.1' }, transports: ['polling'] });
    await connect(srv.url, { extraHeaders: { 'x-forwarded-for': '203.0.113.2' }, transports: ['polling'] });
    const refused = await connectError(srv.url, { extraHeaders: { 'x-forwarded-for': '203.0.113.1' }, transports: ['polling'] });
    expect(refused.message).toBe('RATE_LIMITED');
  });

  it('ignores X-Forwarded-For without TRUST_PROXY', async () => {
    srv = await startTestServer({ RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: '1', RATE_LIMIT_CONNECTIONS_PER_IP_BURST: '1' });
    await connect(srv.url, { extraHeaders: { 'x-forwarded-for': '203.0.113.1' }, transports: ['polling'] });
    const refused = await connectError(srv.url, { extraHeaders: { 'x-forwarded-for': '203.0.113.2' }, transports: ['polling'] });
    expect(refused.message).toBe('RATE_LIMITED');
  });
});
