import { describe, expect, it } from 'vitest';
import { jwtExpiresAt, refreshDelay } from '../../src/token.js';

const b64url = (s: string) => Buffer.from(s).toString('base64url');
const jwt = (claims: object) => `${b64url('{"alg":"HS256"}')}.${b64url(JSON.stringify(claims))}.sig`;

describe('jwtExpiresAt', () => {
  it('reads exp (seconds) as milliseconds without verifying', () => {
    expect(jwtExpiresAt(jwt({ sub: 'ü', exp: 1_900_000_000 }))).toBe(1_900_000_000_000);
  });
  it('is undefined without a usable exp', () => {
    expect(jwtExpiresAt(jwt({ sub: 'a' }))).toBeUndefined();
    expect(jwtExpiresAt(jwt({ exp: 'soon' }))).toBeUndefined();
    expect(jwtExpiresAt('not-a-jwt')).toBeUndefined();
    expect(jwtExpiresAt('a.%%%.c')).toBeUndefined();
  });
});

describe('refreshDelay', () => {
  it('refreshes a margin before expiry for long-lived tokens', () => {
    expect(refreshDelay(3_600_000, 0, 30_000)).toBe(3_570_000);
  });
  it('refreshes at three quarters of the lifetime for short-lived tokens', () => {
    expect(refreshDelay(4000, 0, 30_000)).toBe(3000);
  });
  it('refreshes at once when already expired', () => {
    expect(refreshDelay(1000, 2000, 30_000)).toBe(0);
  });
});
