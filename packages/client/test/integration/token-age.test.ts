import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import type { WebSocketClientError } from '../../src/index.js';
import { ClientPool, record, token, until } from '../helpers/harness.js';

// A server that accepts tokens for 3 s after their `iat`, whatever their `exp`.
let server: ServerProcess;
const pool = new ClientPool();

beforeAll(async () => {
  server = await startServerProcess({ JWT_MAX_AGE: '3' });
});
afterAll(async () => {
  await server?.stop();
});
afterEach(() => pool.closeAll());

describe('JWT_MAX_AGE with the SDK', () => {
  it('refreshes before iat + JWT_MAX_AGE although exp is an hour away, staying connected', async () => {
    const alice = await pool.create(server.url, 'alice', { getToken: () => token('alice', { ttlSeconds: 3600 }) });
    const seen = record(alice);
    await alice.joinRoom('aging');
    const firstExpiry = alice.connectionInfo?.expiresAt as number;
    expect(firstExpiry).toBeLessThan(Date.now() + 3000);
    const refreshed: number[] = [];
    alice.on('token:refreshed', ({ expiresAt }) => expiresAt !== undefined && refreshed.push(expiresAt));
    await until(() => refreshed.length >= 2 && Date.now() > firstExpiry + 200, 'two refreshes past the first token’s age limit');
    expect(seen.states).toEqual(['connected']);
    expect(await alice.joinRoom('still-here')).toMatchObject({ room: 'still-here' });
  });

  it('given a token older than JWT_MAX_AGE, gets a new one after the AUTH_EXPIRED refusal and connects', async () => {
    const tooOld = await token('alice', { iat: Math.floor(Date.now() / 1000) - 60, ttlSeconds: 3600 });
    const alice = await pool.create(server.url, 'alice', { token: tooOld, getToken: () => token('alice'), autoConnect: false });
    const refusals: WebSocketClientError[] = [];
    alice.on('connect_error', (e) => refusals.push(e));
    await alice.connect();
    expect(alice.status).toBe('connected');
    expect(refusals.map((e) => e.code)).toEqual(['AUTH_EXPIRED']);
  });
});
