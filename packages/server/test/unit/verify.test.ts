import { createHmac } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTVerifyOptions } from 'jose';
import { describe, expect, it } from 'vitest';
import { createVerifier, type VerifierOptions } from '../../src/auth/verify.js';
import { createMetrics } from '../../src/metrics.js';

const A = 'secret-a-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789';
const B = 'secret-b-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A token with any header and claims, signed with `secret` (HS256 unless the header says otherwise). */
function raw(header: Record<string, unknown>, claims: unknown, secret = A): string {
  const signed = `${b64(header)}.${b64(claims)}`;
  const alg = typeof header.alg === 'string' && /^HS(256|384|512)$/.test(header.alg) ? header.alg : 'HS256';
  return `${signed}.${createHmac(`sha${alg.slice(2)}`, secret).update(signed).digest('base64url')}`;
}

const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }, secret = A) =>
  new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(new TextEncoder().encode(secret));

/**
 * What the verifier answered before HMAC tokens were checked synchronously: jose's `jwtVerify` over
 * each secret in turn, its errors turned into codes and messages the same way.
 */
async function reference(token: string, o: VerifierOptions): Promise<{ code: string; message?: string } | { userId: string; tenantId: string; expiresAt?: number }> {
  const options: JWTVerifyOptions = {
    algorithms: ['HS256', 'HS384', 'HS512'],
    requiredClaims: [...(o.requireExp ? ['exp'] : [])],
    ...(o.issuer !== undefined && { issuer: o.issuer }),
    ...(o.audience !== undefined && { audience: o.audience }),
  };
  let kid: unknown;
  try {
    kid = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()).kid;
  } catch {
    // no readable header: every secret is tried, and fails
  }
  const named = o.secrets.filter((s) => s.id === kid);
  for (const s of named.length ? named : o.secrets) {
    try {
      const { payload } = await jwtVerify(token, new TextEncoder().encode(s.secret), options);
      if (typeof payload.sub !== 'string' || typeof payload.tenantId !== 'string') return { code: 'AUTH_INVALID' };
      return { userId: payload.sub, tenantId: payload.tenantId, ...(payload.exp !== undefined && { expiresAt: payload.exp * 1000 }) };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { code: 'AUTH_EXPIRED' };
      if (err instanceof joseErrors.JWTClaimValidationFailed) return { code: 'AUTH_INVALID', message: `The token's ${err.claim} claim is ${err.reason === 'missing' ? 'missing' : 'invalid'}` };
      if (err instanceof joseErrors.JWTInvalid) return { code: 'AUTH_INVALID' };
      if (!(err instanceof joseErrors.JWSSignatureVerificationFailed)) return { code: 'AUTH_INVALID' };
    }
  }
  return { code: 'AUTH_INVALID' };
}

async function outcome(verify: ReturnType<typeof createVerifier>, token: string) {
  try {
    const id = await verify(token);
    return { userId: id.userId, tenantId: id.tenantId, ...(id.expiresAt !== undefined && { expiresAt: id.expiresAt }) };
  } catch (err) {
    const e = err as { code: string; message: string };
    return e.message && e.message !== e.code && !/^The token (is invalid|has expired)/.test(e.message) ? { code: e.code, message: e.message } : { code: e.code };
  }
}

describe('HMAC token verification', () => {
  const options: VerifierOptions[] = [
    { secrets: [{ id: 'a', secret: A }, { id: 'b', secret: B }], requireExp: true },
    { secrets: [{ id: 'a', secret: A }], requireExp: false, issuer: 'https://idp.example', audience: 'realtime' },
  ];

  const cases: Array<[string, () => Promise<string> | string]> = [
    ['valid', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 })],
    ['signed with the second secret', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 }, undefined, B)],
    ['with kid naming its secret', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 }, { alg: 'HS256', kid: 'b' }, B)],
    ['with kid naming another secret', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 }, { alg: 'HS256', kid: 'a' }, B)],
    ['with an unknown kid', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 }, { alg: 'HS256', kid: 'zz' }, B)],
    ['HS384', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 }, { alg: 'HS384' })],
    ['HS512', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 }, { alg: 'HS512' })],
    ['signed by no configured secret', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 }, undefined, 'other-secret-0123456789-abcdefghijklmnopqrstuvwxyz')],
    ['expired', () => sign({ sub: 'al', tenantId: 'acme', exp: now() - 1 })],
    ['expiring this second', () => sign({ sub: 'al', tenantId: 'acme', exp: now() })],
    ['without exp', () => sign({ sub: 'al', tenantId: 'acme' })],
    ['exp a string', () => sign({ sub: 'al', tenantId: 'acme', exp: String(now() + 60) })],
    ['iat a string', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60, iat: 'yesterday' })],
    ['nbf in the future', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60, nbf: now() + 30 })],
    ['nbf in the past', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60, nbf: now() - 30 })],
    ['nbf in the future and exp a string', () => sign({ sub: 'al', tenantId: 'acme', exp: 'x', nbf: now() + 30 })],
    ['with iss and aud', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60, iss: 'https://idp.example', aud: ['x', 'realtime'] })],
    ['another iss', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60, iss: 'https://other.example', aud: 'realtime' })],
    ['another aud', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60, iss: 'https://idp.example', aud: 'other' })],
    ['no iss', () => sign({ sub: 'al', tenantId: 'acme', exp: now() + 60, aud: 'realtime' })],
    ['a payload that is an array', () => raw({ alg: 'HS256' }, [1, 2])],
    ['a payload that is not JSON', () => raw({ alg: 'HS256' }, 'not json')],
    ['a header that is not JSON', () => `${b64('nope')}.${b64({ sub: 'al', tenantId: 'acme' })}.${b64('sig')}`],
    ['alg none', () => `${b64({ alg: 'none' })}.${b64({ sub: 'al', tenantId: 'acme', exp: now() + 60 })}.`],
    ['a crit header', () => raw({ alg: 'HS256', crit: ['exp'] }, { sub: 'al', tenantId: 'acme', exp: now() + 60 })],
    ['b64 false', () => raw({ alg: 'HS256', b64: false, crit: ['b64'] }, { sub: 'al', tenantId: 'acme', exp: now() + 60 })],
    ['a tampered payload', async () => {
      const [h, , s] = (await sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 })).split('.');
      return `${h}.${b64({ sub: 'root', tenantId: 'acme', exp: now() + 60 })}.${s}`;
    }],
    ['a signature with characters outside base64url', async () => `${await sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 })}=`],
    ['a truncated signature', async () => (await sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 })).slice(0, -4)],
    ['four segments', async () => `${await sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 })}.x`],
  ];

  it.each(options.map((o, i) => [i, o] as const))('answers as jose does, for every token shape (options %i)', async (_i, o) => {
    const verify = createVerifier(o, createMetrics({ maxTenants: 10, serverId: 't' }));
    for (const [name, make] of cases) {
      const token = await make();
      expect(await outcome(verify, token), name).toEqual(await reference(token, o));
    }
  });

  it('counts each verification under the secret that signed the token', async () => {
    const metrics = createMetrics({ maxTenants: 10, serverId: 't' });
    const verify = createVerifier(options[0]!, metrics);
    await verify(await sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 }, undefined, B));
    await verify(await sign({ sub: 'al', tenantId: 'acme', exp: now() - 5 })).catch(() => {});
    await verify(await sign({ sub: 'al', tenantId: 'acme', exp: now() + 60 }, undefined, 'nobody-0123456789-abcdefghijklmnopqrstuvwxyz')).catch(() => {});
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/websocket_jwt_verifications_total\{[^}]*kid="b"[^}]*result="ok"[^}]*\} 1/);
    expect(text).toMatch(/websocket_jwt_verifications_total\{[^}]*kid="a"[^}]*result="expired"[^}]*\} 1/);
    expect(text).toMatch(/websocket_jwt_verifications_total\{[^}]*kid="unknown"[^}]*result="invalid"[^}]*\} 1/);
  });
});
