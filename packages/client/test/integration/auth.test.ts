import { io } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import { mintToken } from '../../../server/test/helpers/tokens.js';
import type { SocketFactory, SystemError, WebSocketClientError } from '../../src/index.js';
import { ClientPool, nextEvent, record, sleep, token, until } from '../helpers/harness.js';

let server: ServerProcess;
const pool = new ClientPool();

beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(() => pool.closeAll());

describe('tokens', () => {
  it('refreshes a short-lived token on the open connection before it expires', async () => {
    let calls = 0;
    const alice = await pool.create(server.url, 'alice', {
      getToken: () => {
        calls++;
        return token('alice', { ttlSeconds: 3 });
      },
    });
    const aliceSeen = record(alice);
    const bob = await pool.create(server.url, 'bob');
    const bobSeen = record(bob);
    await bob.joinRoom('fresh');
    await alice.joinRoom('fresh');
    const firstExpiry = alice.connectionInfo?.expiresAt;
    expect(firstExpiry).toBeDefined();

    const refreshed: number[] = [];
    alice.on('token:refreshed', ({ expiresAt }) => expiresAt !== undefined && refreshed.push(expiresAt));
    await until(() => refreshed.length >= 2, 'two refreshes');
    // Past the first token's expiry, on the same connection.
    await until(() => Date.now() > (firstExpiry as number) + 200, 'the first expiry');
    const id = await alice.sendMessage('fresh', 'still here');
    await until(() => bob.lastMessageId('fresh') === id, 'the message at bob');
    expect(bobSeen.messages.map((m) => m.payload)).toEqual(['still here']);
    expect(aliceSeen.states).toEqual(['connected']);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(refreshed[0]).toBeGreaterThan(firstExpiry as number);
  });

  it('after AUTH_EXPIRED from the server, gets a new token and reconnects into its rooms', async () => {
    const shortLived = await token('alice', { ttlSeconds: 2 });
    let calls = 0;
    // The first two answers are the short-lived token (the refresh gains nothing), then fresh ones.
    const alice = await pool.create(server.url, 'alice', {
      getToken: () => (++calls <= 2 ? shortLived : token('alice')),
    });
    const aliceSeen = record(alice);
    const errors: SystemError[] = [];
    alice.on('system:error', (e) => errors.push(e));
    const bob = await pool.create(server.url, 'bob');
    const bobSeen = record(bob);
    await bob.joinRoom('expiry');
    await alice.joinRoom('expiry');
    await until(() => aliceSeen.states.includes('reconnecting'), 'the expiry');
    await until(() => alice.status === 'connected', 'the reconnect');
    expect(errors.map((e) => e.code)).toEqual(['AUTH_EXPIRED']);
    expect(calls).toBeGreaterThanOrEqual(3);
    const id = await alice.sendMessage('expiry', 'renewed');
    await until(() => bob.lastMessageId('expiry') === id, 'the message at bob');
    expect(bobSeen.messages.map((m) => m.payload)).toEqual(['renewed']);
  });

  it('without getToken, an expired token ends in the failed state with AUTH_EXPIRED', async () => {
    const alice = await pool.create(server.url, 'alice', { token: await token('alice', { ttlSeconds: 2 }) });
    await alice.joinRoom('short');
    const pending = new Promise<WebSocketClientError>((resolve) => alice.on('error', resolve));
    const [status, change] = await nextEvent(alice, 'status:change');
    expect(status).toBe('failed');
    expect(change).toMatchObject({ oldState: 'connected', newState: 'failed', reason: 'AUTH_EXPIRED' });
    expect((await pending).code).toBe('AUTH_EXPIRED');
    expect(alice.lastError?.code).toBe('AUTH_EXPIRED');
    await expect(alice.sendMessage('short', 'x')).rejects.toMatchObject({ code: 'AUTH_EXPIRED' });
  });

  it('an expired token is replaced through getToken before connecting', async () => {
    const alice = await pool.create(server.url, 'alice', {
      token: await token('alice', { ttlSeconds: -10 }),
      getToken: () => token('alice'),
    });
    const seen = record(alice);
    await alice.connect();
    expect(seen.states).toEqual(['connected']);
  });
});

describe('terminal refusals', () => {
  const cases = [
    { name: 'a token signed with another key', code: 'AUTH_INVALID', opts: async () => ({ token: await mintToken({ sub: 'x', tenantId: 'acme', secret: 'another-secret-another-secret-another-secret' }) }) },
    { name: 'no token', code: 'AUTH_REQUIRED', opts: async () => ({ token: undefined }) },
    { name: 'a tenant that is not the token’s', code: 'TENANT_MISMATCH', opts: async () => ({ tenantId: 'globex' }) },
  ] as const;

  for (const c of cases) {
    it(`${c.name}: failed with ${c.code}, no retry loop`, async () => {
      let attempts = 0;
      const factory: SocketFactory = (url, options) => {
        attempts++;
        return io(url, options);
      };
      const client = await pool.create(server.url, 'mallory', { ...(await c.opts()), socketFactory: factory, autoConnect: false });
      const seen = record(client);
      const connectErrors: WebSocketClientError[] = [];
      client.on('connect_error', (e) => connectErrors.push(e));
      const errors: WebSocketClientError[] = [];
      client.on('error', (e) => errors.push(e));
      const joining = client.joinRoom('room');
      await expect(client.connect()).rejects.toMatchObject({ code: c.code });
      await expect(joining).rejects.toMatchObject({ code: c.code });
      expect(client.status).toBe('failed');
      expect(seen.states).toEqual(['connecting', 'failed']);
      expect(errors.map((e) => e.code)).toEqual([c.code]);
      expect(client.lastError?.code).toBe(c.code);
      // Time for several retries at the test backoff (50-500 ms), had there been any.
      await sleep(1000);
      expect(attempts).toBe(1);
      expect(connectErrors.map((e) => e.code)).toEqual([c.code]);
      await expect(client.sendMessage('room', 1)).rejects.toMatchObject({ code: c.code });
    });
  }
});
