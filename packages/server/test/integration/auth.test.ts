import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, connect, connectError, next, request, sleep } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { mintToken, TEST_JWT_SECRET } from '../helpers/tokens.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('authentication (HS256)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => srv.close());
  afterEach(() => closeAll());

  it('accepts a token in auth and sends connection:established', async () => {
    const { established } = await connect(srv.url, { claims: { sub: 'alice', tenantId: 'acme' } });
    expect(established).toMatchObject({ tenantId: 'acme', userId: 'alice', heartbeatInterval: 30_000 });
    expect(typeof established.connectionId).toBe('string');
    expect(typeof established.serverId).toBe('string');
    expect(established.expiresAt).toBeGreaterThan(Date.now());
  });

  it('accepts HS256, HS384 and HS512 tokens signed with the secret, each again on a second use, and refuses them signed with another', async () => {
    for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
      for (const sub of ['hs-a', 'hs-b']) {
        const token = await mintToken({ sub: `${sub}-${alg}`, tenantId: 'acme', alg });
        expect((await connect(srv.url, { auth: { token } })).established.userId).toBe(`${sub}-${alg}`);
      }
      const forged = await mintToken({ sub: 'mallory', tenantId: 'acme', alg, secret: 'another-secret-0123456789-abcdefghijklmnopqrstuvwxyz' });
      expect((await connectError(srv.url, { auth: { token: forged } })).data.code).toBe('AUTH_INVALID');
    }
  });

  it('accepts a token in the Authorization header and in the token query parameter', async () => {
    const token = await mintToken({ sub: 'bob', tenantId: 'acme' });
    for (const transports of [['websocket'], ['polling']] as const) {
      const viaHeader = await connect(srv.url, { auth: {}, extraHeaders: { authorization: `Bearer ${token}` }, transports: [...transports] });
      expect(viaHeader.established.userId).toBe('bob');
      const viaQuery = await connect(srv.url, { auth: {}, query: { token }, transports: [...transports] });
      expect(viaQuery.established.userId).toBe('bob');
    }
  });

  it('prefers auth.token over the header and the query', async () => {
    const good = await mintToken({ sub: 'carol', tenantId: 'acme' });
    const { established } = await connect(srv.url, { token: good, extraHeaders: { authorization: 'Bearer nonsense' }, query: { token: 'nonsense' } });
    expect(established.userId).toBe('carol');
  });

  it('refuses a missing token with AUTH_REQUIRED', async () => {
    const r = await connectError(srv.url, { auth: {} });
    expect(r.message).toBe('AUTH_REQUIRED');
    expect(r.data).toMatchObject({ code: 'AUTH_REQUIRED', message: expect.any(String) });
  });

  it.each([
    ['garbage', async () => 'not-a-jwt'],
    ['a non-string token', async () => 12345 as unknown as string],
    ['a wrong signature', async () => mintToken({ sub: 'alice', tenantId: 'acme', secret: 'another-secret-that-is-long-enough-0123456789' })],
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', tenantId: 'acme', exp: Math.floor(Date.now() / 1000) + 60 })}.`],
    ['no sub', async () => mintToken({ sub: '', tenantId: 'acme' })],
    ['no tenantId', async () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('1h').sign(new TextEncoder().encode(TEST_JWT_SECRET))],
    ['an invalid tenantId', async () => mintToken({ sub: 'alice', tenantId: 'a#b' })],
    ['no exp', async () => mintToken({ sub: 'alice', tenantId: 'acme', ttlSeconds: null })],
    ['a tampered payload', async () => {
      const t = await mintToken({ sub: 'alice', tenantId: 'acme' });
      const [h, , s] = t.split('.');
      return `${h}.${b64({ sub: 'alice', tenantId: 'globex', exp: Math.floor(Date.now() / 1000) + 60 })}.${s}`;
    }],
  ])('refuses %s with AUTH_INVALID', async (_name, make) => {
    const r = await connectError(srv.url, { auth: { token: await make() } });
    expect(r.message).toBe('AUTH_INVALID');
    expect(r.data.code).toBe('AUTH_INVALID');
    expect(JSON.stringify(r.data)).not.toMatch(/at .*\.js|stack/i);
  });

  it('refuses an expired token with AUTH_EXPIRED', async () => {
    const r = await connectError(srv.url, { claims: { ttlSeconds: -10 } });
    expect(r.message).toBe('AUTH_EXPIRED');
  });

  it('refuses a handshake tenantId that differs from the token with TENANT_MISMATCH', async () => {
    const r = await connectError(srv.url, { claims: { tenantId: 'acme' }, tenantId: 'globex' });
    expect(r.message).toBe('TENANT_MISMATCH');
    const ok = await connect(srv.url, { claims: { tenantId: 'acme' }, tenantId: 'acme' });
    expect(ok.established.tenantId).toBe('acme');
  });

  it('disconnects with system:error AUTH_EXPIRED when the token expires while connected', async () => {
    // exp is in whole seconds: a 2 s token expires 1 to 2 s from now (a 1 s one could be expired on arrival).
    const { socket } = await connect(srv.url, { claims: { ttlSeconds: 2 } });
    const err = next<{ code: string }>(socket, 'system:error', () => true, 5000);
    const gone = next<string>(socket, 'disconnect', () => true, 5000);
    expect(await err).toMatchObject({ code: 'AUTH_EXPIRED' });
    expect(await gone).toBe('io server disconnect');
  });

  it('auth:refresh with a newer token for the same user and tenant keeps the connection', async () => {
    const { socket } = await connect(srv.url, { claims: { sub: 'alice', ttlSeconds: 2 } });
    const errors: unknown[] = [];
    socket.on('system:error', (e) => errors.push(e));
    const fresh = await mintToken({ sub: 'alice', tenantId: 'acme', ttlSeconds: 60 });
    const ack = await request<{ success: boolean; expiresAt: number }>(socket, 'auth:refresh', { token: fresh });
    expect(ack.success).toBe(true);
    expect(ack.expiresAt).toBeGreaterThan(Date.now() + 50_000);
    await sleep(2500);
    expect(socket.connected).toBe(true);
    expect(errors).toEqual([]);
  });

  it('auth:refresh refuses another user, another tenant, or a bad token', async () => {
    const { socket } = await connect(srv.url, { claims: { sub: 'alice' } });
    const other = await mintToken({ sub: 'mallory', tenantId: 'acme' });
    expect(await request(socket, 'auth:refresh', { token: other })).toMatchObject({ success: false, error: 'AUTH_INVALID' });
    const otherTenant = await mintToken({ sub: 'alice', tenantId: 'globex' });
    expect(await request(socket, 'auth:refresh', { token: otherTenant })).toMatchObject({ success: false, error: 'AUTH_INVALID' });
    expect(await request(socket, 'auth:refresh', { token: 'x.y.z' })).toMatchObject({ success: false, error: 'AUTH_INVALID' });
    expect(await request(socket, 'auth:refresh', { token: await mintToken({ sub: 'alice', tenantId: 'acme', ttlSeconds: -5 }) })).toMatchObject({ success: false, error: 'AUTH_EXPIRED' });
    expect(await request(socket, 'auth:refresh', {})).toMatchObject({ success: false, error: 'INVALID_PAYLOAD' });
    const shorter = await mintToken({ sub: 'alice', tenantId: 'acme', ttlSeconds: 60 });
    expect(await request(socket, 'auth:refresh', { token: shorter })).toMatchObject({ success: false, error: 'AUTH_INVALID', message: expect.stringMatching(/expire before/) });
    expect(socket.connected).toBe(true);
  });

  it.each([
    ['a number', 12345],
    ['an empty string', ''],
    ['20,000 characters', 'x'.repeat(20_000)],
    ['an object', { jwt: 'x.y.z' }],
    ['null', null],
    ['an array', ['x.y.z']],
  ])('auth:refresh with %s as the token answers AUTH_INVALID and keeps the connection and its expiry', async (_name, token) => {
    const { socket } = await connect(srv.url, { claims: { sub: 'alice', ttlSeconds: 60 } });
    expect(await request(socket, 'auth:refresh', { token })).toMatchObject({ success: false, error: 'AUTH_INVALID', message: expect.any(String) });
    // Still served, and still on its old token: a valid refresh that expires sooner is refused as such.
    const sooner = await mintToken({ sub: 'alice', tenantId: 'acme', ttlSeconds: 30 });
    expect(await request(socket, 'auth:refresh', { token: sooner })).toMatchObject({ success: false, error: 'AUTH_INVALID', message: expect.stringMatching(/expire before/) });
    expect(await request(socket, 'query:rooms')).toMatchObject({ success: true });
  });

  it('auth:refresh without a token, or not as an object, answers INVALID_PAYLOAD', async () => {
    const { socket } = await connect(srv.url);
    expect(await request(socket, 'auth:refresh', {})).toMatchObject({ success: false, error: 'INVALID_PAYLOAD', message: expect.stringContaining('token') });
    expect(await request(socket, 'auth:refresh', 'x.y.z')).toMatchObject({ success: false, error: 'INVALID_PAYLOAD' });
    expect(socket.connected).toBe(true);
  });

  it('without JWT_MAX_AGE, accepts a token without iat or issued long ago, its end set by exp alone', async () => {
    const noIat = await connect(srv.url, { claims: { iat: null } });
    expect(noIat.established.userId).toBe('alice');
    const old = await connect(srv.url, { claims: { iat: nowSeconds() - 30 * 86_400, ttlSeconds: 600 } });
    expect(old.established.expiresAt).toBeGreaterThan(Date.now() + 590_000);
  });
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('token age (JWT_MAX_AGE)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ JWT_MAX_AGE: '1h' });
  });
  afterAll(async () => srv.close());
  afterEach(() => closeAll());

  it('ends the connection at iat + JWT_MAX_AGE when that comes before exp', async () => {
    const iat = nowSeconds() - 600;
    const late = await connect(srv.url, { claims: { iat, ttlSeconds: 7200 } });
    expect(late.established.expiresAt).toBe((iat + 3600) * 1000);
    const early = await connect(srv.url, { claims: { iat, ttlSeconds: 60 } });
    expect(early.established.expiresAt).toBeLessThan((iat + 3600) * 1000);
  });

  it('refuses a token older than JWT_MAX_AGE with AUTH_EXPIRED, whatever its exp', async () => {
    const r = await connectError(srv.url, { claims: { iat: nowSeconds() - 3601, ttlSeconds: 7200 } });
    expect(r.data).toMatchObject({ code: 'AUTH_EXPIRED', message: expect.stringMatching(/older/) });
  });

  it('allows iat up to 60 s ahead of the server clock, refuses it further ahead with AUTH_INVALID', async () => {
    expect((await connect(srv.url, { claims: { iat: nowSeconds() + 30 } })).established.userId).toBe('alice');
    const r = await connectError(srv.url, { claims: { iat: nowSeconds() + 120 } });
    expect(r.data).toMatchObject({ code: 'AUTH_INVALID', message: expect.stringMatching(/iat claim is in the future/) });
  });

  it('refuses a token without iat with AUTH_INVALID', async () => {
    const r = await connectError(srv.url, { claims: { iat: null } });
    expect(r.data).toMatchObject({ code: 'AUTH_INVALID', message: "The token's iat claim is missing" });
  });

  it('auth:refresh refuses a too old token with AUTH_EXPIRED and takes a fresh one', async () => {
    const { socket } = await connect(srv.url, { claims: { sub: 'alice', iat: nowSeconds() - 3000 } });
    const tooOld = await mintToken({ sub: 'alice', tenantId: 'acme', iat: nowSeconds() - 3700, ttlSeconds: 7200 });
    expect(await request(socket, 'auth:refresh', { token: tooOld })).toMatchObject({ success: false, error: 'AUTH_EXPIRED' });
    const iat = nowSeconds();
    const fresh = await mintToken({ sub: 'alice', tenantId: 'acme', iat, ttlSeconds: 7200 });
    expect(await request(socket, 'auth:refresh', { token: fresh })).toEqual({ success: true, expiresAt: (iat + 3600) * 1000 });
  });

  it('disconnects with system:error AUTH_EXPIRED at iat + JWT_MAX_AGE', async () => {
    const short = await startTestServer({ JWT_MAX_AGE: '3' });
    try {
      const { socket, established } = await connect(short.url, { claims: { iat: nowSeconds() - 1, ttlSeconds: 3600 } });
      expect(established.expiresAt).toBeLessThan(Date.now() + 3000);
      const err = next<{ code: string }>(socket, 'system:error', () => true, 5000);
      const gone = next<string>(socket, 'disconnect', () => true, 5000);
      expect(await err).toMatchObject({ code: 'AUTH_EXPIRED' });
      expect(await gone).toBe('io server disconnect');
    } finally {
      await short.close();
    }
  });

  it('with JWT_REQUIRE_EXP=false, a token without exp ends at iat + JWT_MAX_AGE', async () => {
    const noExp = await startTestServer({ JWT_MAX_AGE: '90m', JWT_REQUIRE_EXP: 'false' });
    try {
      const iat = nowSeconds();
      const { established } = await connect(noExp.url, { claims: { iat, ttlSeconds: null } });
      expect(established.expiresAt).toBe((iat + 5400) * 1000);
    } finally {
      await noExp.close();
    }
  });
});

describe('authentication options', () => {
  afterEach(() => closeAll());

  it('checks iss and aud when JWT_ISSUER and JWT_AUDIENCE are set', async () => {
    const srv = await startTestServer({ JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'realtime' });
    try {
      const good = await mintToken({ sub: 'a', tenantId: 'acme', issuer: 'https://idp.example', audience: 'realtime' });
      expect((await connect(srv.url, { token: good })).established.userId).toBe('a');
      for (const token of [
        await mintToken({ sub: 'a', tenantId: 'acme', issuer: 'https://evil.example', audience: 'realtime' }),
        await mintToken({ sub: 'a', tenantId: 'acme', issuer: 'https://idp.example', audience: 'other' }),
        await mintToken({ sub: 'a', tenantId: 'acme' }),
      ]) {
        expect((await connectError(srv.url, { token })).message).toBe('AUTH_INVALID');
      }
    } finally {
      await srv.close();
    }
  });

  it('accepts tokens without exp when JWT_REQUIRE_EXP=false', async () => {
    const srv = await startTestServer({ JWT_REQUIRE_EXP: 'false' });
    try {
      const token = await mintToken({ sub: 'a', tenantId: 'acme', ttlSeconds: null });
      expect((await connect(srv.url, { token })).established.expiresAt).toBeUndefined();
    } finally {
      await srv.close();
    }
  });

  it.each([
    ['RS256', { modulusLength: 2048 }],
    ['ES256', {}],
    ['EdDSA', { crv: 'Ed25519' }],
  ] as const)('verifies %s tokens with JWT_PUBLIC_KEY and refuses HS256 ones signed with the key text', async (alg, opts) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { ...opts, extractable: true });
    const pem = await exportSPKI(publicKey);
    const srv = await startTestServer({ JWT_PUBLIC_KEY: pem, JWT_SECRET: '' });
    try {
      const token = await new SignJWT({ tenantId: 'acme' }).setProtectedHeader({ alg }).setSubject('kim').setExpirationTime('1h').sign(privateKey);
      expect((await connect(srv.url, { token })).established.userId).toBe('kim');
      // Algorithm confusion: an HMAC token keyed with the public key text must not pass.
      const confused = await new SignJWT({ tenantId: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setSubject('kim').setExpirationTime('1h').sign(new TextEncoder().encode(pem));
      expect((await connectError(srv.url, { token: confused })).message).toBe('AUTH_INVALID');
      const hs = await mintToken({ sub: 'kim', tenantId: 'acme' });
      expect((await connectError(srv.url, { token: hs })).message).toBe('AUTH_INVALID');
    } finally {
      await srv.close();
    }
  });

  it('verifies tokens against a JWKS_URL, choosing the key by kid', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', () => r()));
    const srv = await startTestServer({ JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`, JWT_SECRET: '' });
    try {
      const token = await new SignJWT({ tenantId: 'acme' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('jo').setExpirationTime('1h').sign(privateKey);
      expect((await connect(srv.url, { token })).established.userId).toBe('jo');
      const other = await generateKeyPair('RS256');
      const forged = await new SignJWT({ tenantId: 'acme' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('jo').setExpirationTime('1h').sign(other.privateKey);
      expect((await connectError(srv.url, { token: forged })).message).toBe('AUTH_INVALID');
    } finally {
      await srv.close();
      jwks.close();
    }
  });
});
