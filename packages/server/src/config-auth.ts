/** Who may connect and call: the tokens (JWT), the server API's keys, and the authorization proxies. */
import { createPublicKey, randomBytes } from 'node:crypto';
import { parseApiKeys, type ApiKeyEntry } from './auth/api-keys.js';
import type { BackendAuthConfig } from './auth/proxy.js';
import { parseSecret, RESERVED_SECRET_IDS, type HmacSecret } from './auth/secrets.js';
import type { VerifierOptions } from './auth/verify.js';
import { commaList, fail, parseDuration } from './config-parse.js';
import type { Env } from './config-schema.js';
import type { Secrets } from './config-secrets.js';

/** What the token verifier is built with, and where its HMAC secrets came from. */
export interface JwtConfig extends Omit<VerifierOptions, 'keepClaims'> {
  /** HMAC secrets: the first signs, every one verifies (JWT_SECRET, then JWT_PREVIOUS_SECRETS). */
  secrets: readonly HmacSecret[];
  /** True when the secret was generated for this process (development only). */
  secretGenerated: boolean;
  /** JWT_MAX_AGE: tokens issued longer ago are refused, and connections end by then. */
  maxAgeSeconds?: number;
}

/** The server API (`/api/v1`): its keys and the limits of its calls. */
export interface ApiConfig {
  /** API_KEYS entries, then API_KEY as an operator key (`*`). Empty: the API is disabled. */
  keys: readonly ApiKeyEntry[];
  /** Calls per key, shared by every instance. */
  rate: { rate: number; burst: number };
  /** Largest body of a batch of messages. */
  maxBodyBytes: number;
  /** How long a revocation is kept: JWT_MAX_AGE when set (no token it covers lives longer), else REVOCATION_TTL. */
  revocationTtlSeconds: number;
}

/** HMAC secrets (current first, then previous ones), public key or JWKS, claim rules and token age. */
export function jwtConfig(r: Env, prod: boolean, s: Secrets): JwtConfig {
  const secrets: HmacSecret[] = [];
  const addSecret = (name: string, text: string, entry: string) => {
    const parsed = parseSecret(text);
    if (prod && parsed.secret.length < 64) fail(name, `${entry}must be at least 64 characters in production`);
    if (!prod && parsed.secret.length < 32) fail(name, `${entry}must be at least 32 characters`);
    if (RESERVED_SECRET_IDS.has(parsed.id)) fail(name, `${entry}uses the reserved id "${parsed.id}"`);
    if (secrets.some((o) => o.id === parsed.id || o.secret === parsed.secret)) fail(name, `${entry}repeats a secret or a secret id already listed`);
    secrets.push(parsed);
  };
  let secretGenerated = false;
  const asymmetric = s.jwtPublicKey !== undefined || r.JWKS_URL !== undefined;
  if (s.jwtSecret !== undefined) {
    addSecret(s.named('JWT_SECRET'), s.jwtSecret, '');
    commaList(r.JWT_PREVIOUS_SECRETS).forEach((text, i) => addSecret('JWT_PREVIOUS_SECRETS', text, `entry ${i + 1} `));
  } else if (r.JWT_PREVIOUS_SECRETS !== undefined) {
    fail('JWT_PREVIOUS_SECRETS', 'needs JWT_SECRET (the secret that signs)');
  } else if (prod && !asymmetric) {
    fail('JWT_SECRET', 'is required in production (or JWT_PUBLIC_KEY / JWKS_URL)');
  } else if (!asymmetric) {
    addSecret('JWT_SECRET', randomBytes(48).toString('hex'), '');
    secretGenerated = true;
  }
  if (s.jwtPublicKey !== undefined) {
    try {
      createPublicKey(s.jwtPublicKey);
    } catch {
      fail(s.named('JWT_PUBLIC_KEY'), 'must be a PEM public key');
    }
  }
  let maxAgeSeconds: number | undefined;
  if (r.JWT_MAX_AGE !== undefined) {
    const seconds = parseDuration(r.JWT_MAX_AGE);
    if (seconds === undefined || seconds > 315_360_000) fail('JWT_MAX_AGE', `must be a duration like 3600, 90m, 24h or 7d, up to 3650d, or 0 for no limit (got "${r.JWT_MAX_AGE}")`);
    if (seconds !== 0) maxAgeSeconds = seconds;
  }
  return {
    secrets,
    secretGenerated,
    requireExp: r.JWT_REQUIRE_EXP,
    ...(maxAgeSeconds !== undefined && { maxAgeSeconds }),
    ...(s.jwtPublicKey !== undefined && { publicKey: s.jwtPublicKey }),
    ...(r.JWKS_URL !== undefined && { jwksUrl: r.JWKS_URL }),
    ...(r.JWT_ISSUER !== undefined && { issuer: r.JWT_ISSUER }),
    ...(r.JWT_AUDIENCE !== undefined && { audience: r.JWT_AUDIENCE }),
  };
}

/** API_KEYS (one entry a line or comma-separated in API_KEYS_FILE) and API_KEY, the API's limits, and how long revocations last. */
export function apiConfig(r: Env, s: Secrets, jwt: JwtConfig): ApiConfig {
  const parsed = parseApiKeys(commaList(s.apiKeys?.replace(/\s*\n\s*/g, ',')));
  if ('error' in parsed) return fail(s.named('API_KEYS'), parsed.error);
  const keys = [...parsed.keys];
  if (r.API_KEY !== undefined) {
    if (keys.some((k) => k.key === r.API_KEY)) fail('API_KEY', 'is also listed in API_KEYS: list each key once');
    keys.push({ tenant: '*', key: r.API_KEY });
  }
  const ttl = parseDuration(r.REVOCATION_TTL);
  if (ttl === undefined || ttl < 60 || ttl > 315_360_000) fail('REVOCATION_TTL', `must be a duration from 60s to 3650d, like 24h or 7d (got "${r.REVOCATION_TTL}")`);
  return {
    keys,
    rate: { rate: r.API_RATE_LIMIT_PER_SECOND, burst: r.API_RATE_LIMIT_BURST },
    maxBodyBytes: r.API_MAX_BODY_BYTES,
    revocationTtlSeconds: jwt.maxAgeSeconds ?? (ttl as number),
  };
}

/** The authorization proxies: any of the three URLs, with the secret that signs their requests. */
export function backendAuthConfig(r: Env, s: Secrets): BackendAuthConfig | undefined {
  const urls = {
    ...(r.AUTH_PROXY_URL !== undefined && { connectUrl: r.AUTH_PROXY_URL }),
    ...(r.JOIN_PROXY_URL !== undefined && { joinUrl: r.JOIN_PROXY_URL }),
    ...(r.PUBLISH_PROXY_URL !== undefined && { publishUrl: r.PUBLISH_PROXY_URL }),
  };
  if (Object.keys(urls).length === 0) return undefined;
  const secret = s.authProxySecret;
  if (secret === undefined) return fail('AUTH_PROXY_SECRET', 'is required with AUTH_PROXY_URL, JOIN_PROXY_URL or PUBLISH_PROXY_URL (it signs their requests)');
  if (secret.length < 32) fail(s.named('AUTH_PROXY_SECRET'), 'must be at least 32 characters');
  return {
    ...urls,
    secret,
    timeoutMs: r.AUTH_PROXY_TIMEOUT,
    cacheTtlMs: r.AUTH_PROXY_CACHE_TTL,
    cacheSize: r.AUTH_PROXY_CACHE_SIZE,
    failurePolicy: r.AUTH_PROXY_FAILURE_POLICY,
    breaker: { failures: r.AUTH_PROXY_BREAKER_FAILURES, cooldownMs: r.AUTH_PROXY_BREAKER_COOLDOWN },
  };
}
