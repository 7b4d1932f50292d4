import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, connect, next, request } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

describe('smoke', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => srv.close());
  afterEach(() => closeAll());

  it('connects, joins, sends and receives', async () => {
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    expect(a.established).toMatchObject({ tenantId: 'acme', userId: 'alice' });
    expect(await request(a.socket, 'room:join', { room: 'chat' })).toMatchObject({ success: true });
    expect(await request(b.socket, 'room:join', { room: 'chat' })).toMatchObject({ success: true });
    const got = next(b.socket, 'room:message');
    const ack = await request<{ success: boolean; messageId: string }>(a.socket, 'room:send', { room: 'chat', payload: { text: 'hi' } });
    expect(ack.success).toBe(true);
    expect(await got).toMatchObject({ id: ack.messageId, room: 'chat', from: 'alice', payload: { text: 'hi' } });
  });
});
