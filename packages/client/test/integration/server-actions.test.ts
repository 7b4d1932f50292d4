import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, API_KEYS, KEYS } from '../../../server/test/helpers/api.js';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import type { WebSocketClientError } from '../../src/index.js';
import { ClientPool, nextEvent, record, token, until } from '../helpers/harness.js';

let server: ServerProcess;
const pool = new ClientPool();

beforeAll(async () => {
  server = await startServerProcess({ API_KEYS });
});
afterAll(async () => {
  await server?.stop();
});
afterEach(() => pool.closeAll());

describe('actions of the server API, as the SDK sees them', () => {
  it('stops for good when disconnected with a code that says stop (FORBIDDEN), with the code', async () => {
    const alice = await pool.create(server.url, 'alice');
    const seen = record(alice);
    await alice.connect();
    const failed = nextEvent(alice, 'error');
    const notice = nextEvent(alice, 'system:error');
    await api(server.url, 'POST', '/users/alice/disconnect', { key: KEYS.acme, body: { code: 'FORBIDDEN', reason: 'account suspended' } });
    expect((await notice)[0]).toEqual({ code: 'FORBIDDEN', message: 'account suspended', disconnect: true });
    const [error] = await failed;
    expect((error as WebSocketClientError).code).toBe('FORBIDDEN');
    expect(alice.status).toBe('failed');
    expect(seen.states).toEqual(['connected', 'failed']);
  });

  it('reconnects when disconnected with a retryable code', async () => {
    const bob = await pool.create(server.url, 'bob');
    const seen = record(bob);
    await bob.connect();
    await api(server.url, 'POST', '/users/bob/disconnect', { key: KEYS.acme, body: { code: 'SHUTTING_DOWN' } });
    await until(() => seen.states.length >= 3, 'a reconnect');
    expect(seen.states).toEqual(['connected', 'reconnecting', 'connected']);
  });

  it('after a revocation, gets a new token and reconnects; without getToken it fails with TOKEN_REVOKED', async () => {
    const issued = Math.floor(Date.now() / 1000) - 5;
    let calls = 0;
    const carol = await pool.create(server.url, 'carol', {
      getToken: () => (++calls === 1 ? token('carol', { iat: issued }) : token('carol', { iat: issued + 10 })),
    });
    const carolSeen = record(carol);
    const dave = await pool.create(server.url, 'dave', { token: await token('dave', { iat: issued }) });
    await carol.connect();
    await dave.connect();
    const daveFailed = nextEvent(dave, 'error');
    for (const user of ['carol', 'dave']) await api(server.url, 'POST', `/users/${user}/revoke`, { key: KEYS.acme, body: { before: (issued + 2) * 1000 } });
    await until(() => carolSeen.states.length >= 3, 'carol back');
    expect(carolSeen.states).toEqual(['connected', 'reconnecting', 'connected']);
    expect(calls).toBe(2);
    expect(((await daveFailed)[0] as WebSocketClientError).code).toBe('TOKEN_REVOKED');
    expect(dave.status).toBe('failed');
  });

  it('forgets a room it was removed from: room:left with the reason, no re-join after a reconnect', async () => {
    const erin = await pool.create(server.url, 'erin');
    await erin.joinRoom('kept');
    const banned = erin.room('banned');
    await banned.join();
    const left = nextEvent(erin, 'room:left');
    const roomLeft = new Promise<unknown>((resolve) => banned.on('left', resolve));
    await api(server.url, 'DELETE', '/rooms/banned/members/erin', { key: KEYS.acme });
    expect((await left)[0]).toEqual({ room: 'banned', reason: 'removed' });
    expect(await roomLeft).toMatchObject({ room: 'banned', reason: 'removed', error: { code: 'NOT_IN_ROOM' } });
    await expect(erin.sendMessage('banned', 'x')).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });
    const seen = record(erin);
    await api(server.url, 'POST', '/users/erin/disconnect', { key: KEYS.acme, body: { code: 'INTERNAL' } });
    await until(() => seen.states.includes('connected'), 'a reconnect');
    expect((await erin.queryRooms()).sort()).toEqual(['kept']);
  });
});
