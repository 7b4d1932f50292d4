import { createHmac, createPublicKey, timingSafeEqual, webcrypto, type KeyObject } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { z } from 'zod';
import { TENANT_ID_PATTERN } from '@intelgraph/websocket-protocol';
import { CodedError } from '../errors.js';
import type { Metrics, Tally } from '../metrics.js';
import type { HmacSecret } from './secrets.js';

/** What the server knows of a connection's user, from its token. */
export interface Identity {
  userId: string;
  tenantId: string;
  /** Milliseconds since the epoch: `exp`, or `iat` + JWT_MAX_AGE when earlier; undefined when neither applies. */
  expiresAt?: number;
  name?: string;
  roles: string[];
  /** Allowed room patterns; undefined means every room of the tenant. */
  rooms?: string[];
  /** Milliseconds since the epoch: `iat`, when the token has one (revocations refuse tokens issued before a time). */
  issuedAt?: number;
  /** The token's verified claims, kept only for the authorization proxies (VerifierOptions.keepClaims). */
  claims?: Readonly<Record<string, unknown>>;
}

const claimsSchema = z.object({
  sub: z.string().min(1).max(256),
  tenantId: z.string().regex(TENANT_ID_PATTERN),
  exp: z.number().optional(),
  iat: z.number().optional(),
  name: z.string().max(256).optional(),
  roles: z.array(z.string().max(256)).max(256).optional(),
  rooms: z.array(z.string().min(1).max(129)).max(1000).optional(),
});

export interface VerifierOptions {
  /** HMAC secrets, all accepted: the token's `kid` names one, or they are tried in order. */
  secrets: readonly HmacSecret[];
  publicKey?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  requireExp: boolean;
  /** Refuse tokens issued (`iat`) longer ago than this; undefined: no limit. */
  maxAgeSeconds?: number;
  /** Keep every claim in `Identity.claims` (the authorization proxies send them to the backend). */
  keepClaims?: boolean;
}

export type TokenVerifier = (token: string) => Promise<Identity>;

/** With JWT_MAX_AGE, how far ahead of this server's clock a token's `iat` may be (the issuer's clock may run ahead). */
const IAT_CLOCK_SKEW_SECONDS = 60;

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const JWKS_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];
const RESULTS = ['ok', 'invalid', 'expired'] as const;
type VerificationResult = (typeof RESULTS)[number];

/** A key a token can be signed with, and the verification counts of the tokens it signed. */
interface Signer {
  getKey: JWTVerifyGetKey;
  count: Record<VerificationResult, Tally>;
  /** For an HMAC secret: the raw key, for the synchronous check of `hmacFastPath`. */
  hmacKey?: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** jose's base64url decoder accepts padding at the end of the signature: so does this check. */
const SIGNATURE = /^[A-Za-z0-9_-]*={0,2}$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A base64url segment as a JSON object; undefined when it is not one. */
function jsonObjectOf(segment: string): Record<string, unknown> | undefined {
  if (!BASE64URL.test(segment)) return undefined;
  try {
    const value: unknown = JSON.parse(strictUtf8.decode(Buffer.from(segment, 'base64url')));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** What `hmacFastPath` made of a token: a verified payload, a refusal, or `jose` (a shape it leaves to jose). */
type FastResult = { payload: JWTPayload; by: Signer } | { error: CodedError; by?: Signer } | 'jose';

const claimFailure = (claim: string, missing: boolean) => new CodedError('AUTH_INVALID', `The token's ${claim} claim is ${missing ? 'missing' : 'invalid'}`);

function asymmetricAlgs(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec':
      return ['ES256', 'ES384', 'ES512'];
    case 'ed25519':
    case 'ed448':
      return ['EdDSA'];
    default:
      throw new Error(`unsupported public key type ${key.asymmetricKeyType}`);
  }
}

/** Verifies HS256/384/512 with one secret (tokens `hmacFastPath` leaves to jose); jose would import the raw secret on every call, so it is imported once per algorithm. */
function hmacKeyGetter(secret: string): JWTVerifyGetKey {
  const raw = new TextEncoder().encode(secret);
  const keys = new Map<string, Promise<webcrypto.CryptoKey>>();
  return (header: JWTHeaderParameters) => {
    const alg = header.alg;
    if (!HMAC_ALGS.includes(alg)) throw new joseErrors.JOSEAlgNotAllowed(`algorithm ${alg} is not allowed`);
    let key = keys.get(alg);
    if (!key) {
      key = webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']);
      keys.set(alg, key);
    }
    return key;
  };
}

/** Errors jose raises only once the signature has been verified (claims, expiry, claims set shape). */
function afterSignature(err: unknown): boolean {
  return err instanceof joseErrors.JWTClaimValidationFailed || err instanceof joseErrors.JWTExpired || err instanceof joseErrors.JWTInvalid;
}

/**
 * Builds the token verifier. HS256/384/512 with the shared secrets; RS/ES/EdDSA with a PEM public key
 * or a JWKS URL. Only configured algorithms are accepted, so `alg: none` and algorithm confusion are
 * refused. Every verification is counted in `websocket_jwt_verifications_total{kid,result}`.
 */
export function createVerifier(opts: VerifierOptions, metrics: Pick<Metrics, 'jwtVerifications'>): TokenVerifier {
  const counter = metrics.jwtVerifications;
  /** The counts labelled `kid`; the series of `results` exist from the start, so a secret nothing uses any more shows as a flat line. */
  const counts = (kid: string, results: readonly VerificationResult[] = RESULTS): Signer['count'] => {
    for (const result of results) counter.inc({ kid, result }, 0);
    return { ok: counter.tally(kid, 'ok'), invalid: counter.tally(kid, 'invalid'), expired: counter.tally(kid, 'expired') };
  };
  const signer = (kid: string, getKey: JWTVerifyGetKey, hmacKey?: Buffer): Signer => ({ getKey, count: counts(kid), ...(hmacKey && { hmacKey }) });
  /** Tokens no configured key signed (or not even well-formed). */
  const unknown = { count: counts('unknown', ['invalid']) };

  const hmacById = new Map(opts.secrets.map((s) => [s.id, signer(s.id, hmacKeyGetter(s.secret), Buffer.from(s.secret, 'utf8'))]));
  const hmac = [...hmacById.values()];
  const publicKey = opts.publicKey !== undefined ? createPublicKey(opts.publicKey) : undefined;
  const publicAlgs = publicKey ? asymmetricAlgs(publicKey) : [];
  const publicSigner = publicKey && signer('public_key', async () => publicKey);
  const jwks = opts.jwksUrl !== undefined ? createRemoteJWKSet(new URL(opts.jwksUrl)) : undefined;
  const jwksSigner = jwks && signer('jwks', (header, token) => jwks(header, token));

  const verifyOptions: JWTVerifyOptions = {
    algorithms: [...(hmac.length ? HMAC_ALGS : []), ...publicAlgs, ...(jwks ? JWKS_ALGS : [])],
    requiredClaims: [...(opts.requireExp ? ['exp'] : []), ...(opts.maxAgeSeconds !== undefined ? ['iat'] : [])],
    ...(opts.issuer !== undefined && { issuer: opts.issuer }),
    ...(opts.audience !== undefined && { audience: opts.audience }),
  };

  /** The keys that may have signed the token, in the order to try them. */
  function candidates(token: string): readonly Signer[] {
    let header: JWTHeaderParameters;
    try {
      header = decodeProtectedHeader(token) as JWTHeaderParameters;
    } catch {
      return [];
    }
    const alg = header.alg;
    if (typeof alg !== 'string') return [];
    if (HMAC_ALGS.includes(alg) && hmac.length > 0) {
      // A `kid` that names no configured secret (another issuer's naming, say) is no reason to refuse: try them all.
      const named = typeof header.kid === 'string' ? hmacById.get(header.kid) : undefined;
      return named ? [named] : hmac;
    }
    if (publicSigner && publicAlgs.includes(alg)) return [publicSigner];
    if (jwksSigner && JWKS_ALGS.includes(alg)) return [jwksSigner];
    return [];
  }

  /**
   * HS256/384/512 tokens of the usual shape (three segments, a JSON header without `crit`), checked
   * synchronously with node:crypto: jose checks HMACs through WebCrypto, one thread-pool job and
   * promise per token, which made verification the largest cost of a handshake (67-90 µs of CPU per
   * token against ~10 µs). The claims are checked as jose's `jwtVerify` checks them with
   * `verifyOptions` (required claims, iss, aud, iat, nbf, exp; no clock tolerance). Any other shape
   * goes to jose.
   */
  function hmacFastPath(token: string): FastResult {
    const first = token.indexOf('.');
    const last = token.lastIndexOf('.');
    if (first <= 0 || last === first || token.indexOf('.', first + 1) !== last) return 'jose';
    const header = jsonObjectOf(token.slice(0, first));
    if (!header || header.crit !== undefined || header.b64 !== undefined) return 'jose';
    const alg = header.alg;
    if (typeof alg !== 'string' || !HMAC_ALGS.includes(alg) || hmac.length === 0) return 'jose';
    const signature = token.slice(last + 1);
    if (!SIGNATURE.test(signature)) return { error: new CodedError('AUTH_INVALID') };
    const given = Buffer.from(signature, 'base64url');
    const signed = token.slice(0, last);
    const digest = `sha${alg.slice(2)}`;
    const named = typeof header.kid === 'string' ? hmacById.get(header.kid) : undefined;
    let by: Signer | undefined;
    for (const candidate of named ? [named] : hmac) {
      const mac = createHmac(digest, candidate.hmacKey!).update(signed).digest();
      if (mac.length === given.length && timingSafeEqual(mac, given)) {
        by = candidate;
        break;
      }
    }
    if (!by) return { error: new CodedError('AUTH_INVALID') };
    const claims = jsonObjectOf(token.slice(first + 1, last));
    // A payload this check does not read (padding, not an object) is jose's to judge and answer.
    if (!claims) return 'jose';
    const check = (): CodedError | undefined => {
      const required = [...(verifyOptions.requiredClaims ?? [])];
      if (opts.audience !== undefined) required.push('aud');
      if (opts.issuer !== undefined) required.push('iss');
      for (const claim of new Set(required.reverse())) if (!Object.hasOwn(claims, claim)) return claimFailure(claim, true);
      if (opts.issuer !== undefined && claims.iss !== opts.issuer) return claimFailure('iss', false);
      if (opts.audience !== undefined) {
        const aud = claims.aud;
        if (!(aud === opts.audience || (Array.isArray(aud) && aud.includes(opts.audience)))) return claimFailure('aud', false);
      }
      const now = Math.floor(Date.now() / 1000);
      const notNumber = (claim: 'iat' | 'nbf' | 'exp') => claims[claim] !== undefined && typeof claims[claim] !== 'number';
      if (notNumber('iat')) return claimFailure('iat', false);
      if (notNumber('nbf') || (typeof claims.nbf === 'number' && claims.nbf > now)) return claimFailure('nbf', false);
      if (notNumber('exp')) return claimFailure('exp', false);
      if (typeof claims.exp === 'number' && claims.exp <= now) return new CodedError('AUTH_EXPIRED');
      return undefined;
    };
    const error = check();
    return error ? { error, by } : { payload: claims as JWTPayload, by };
  }

  function identityOf(payload: JWTPayload): Identity {
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) {
      const field = String(claims.error.issues[0]?.path[0] ?? 'claims');
      throw new CodedError('AUTH_INVALID', `The token's ${field} claim is missing or invalid`);
    }
    const c = claims.data;
    const identity: Identity = { userId: c.sub, tenantId: c.tenantId, roles: c.roles ?? [] };
    if (c.exp !== undefined) identity.expiresAt = c.exp * 1000;
    if (c.iat !== undefined) identity.issuedAt = c.iat * 1000;
    if (opts.keepClaims) identity.claims = payload as Record<string, unknown>;
    if (opts.maxAgeSeconds !== undefined && c.iat !== undefined) {
      const now = Date.now();
      if (c.iat * 1000 > now + IAT_CLOCK_SKEW_SECONDS * 1000) throw new CodedError('AUTH_INVALID', "The token's iat claim is in the future");
      const ageLimit = (c.iat + opts.maxAgeSeconds) * 1000;
      // Too old is an expiry: a client with a way to get tokens fetches a new one and reconnects.
      if (ageLimit <= now) throw new CodedError('AUTH_EXPIRED', 'The token is older than this server accepts');
      if (identity.expiresAt === undefined || ageLimit < identity.expiresAt) identity.expiresAt = ageLimit;
    }
    if (c.name !== undefined) identity.name = c.name;
    if (c.rooms !== undefined) identity.rooms = c.rooms;
    return identity;
  }

  return async (token: string): Promise<Identity> => {
    if (typeof token !== 'string' || token.length === 0) throw new CodedError('AUTH_REQUIRED');
    let by: Pick<Signer, 'count'> = unknown;
    try {
      if (token.length > 16_384) throw new CodedError('AUTH_INVALID', 'The token is too long');
      let payload: JWTPayload | undefined;
      const fast = hmacFastPath(token);
      if (fast !== 'jose') {
        if (fast.by) by = fast.by;
        if ('error' in fast) throw fast.error;
        const identity = identityOf(fast.payload);
        by.count.ok.inc();
        return identity;
      }
      for (const candidate of candidates(token)) {
        try {
          payload = (await jwtVerify(token, candidate.getKey, verifyOptions)).payload;
          by = candidate;
          break;
        } catch (err) {
          if (afterSignature(err)) {
            by = candidate;
            if (err instanceof joseErrors.JWTExpired) throw new CodedError('AUTH_EXPIRED');
            if (err instanceof joseErrors.JWTClaimValidationFailed) {
              throw new CodedError('AUTH_INVALID', `The token's ${err.claim} claim is ${err.reason === 'missing' ? 'missing' : 'invalid'}`);
            }
            throw new CodedError('AUTH_INVALID');
          }
          // Another secret may have signed it; anything else (malformed, no such key) ends here.
          if (!(err instanceof joseErrors.JWSSignatureVerificationFailed)) break;
        }
      }
      if (payload === undefined) throw new CodedError('AUTH_INVALID');
      const identity = identityOf(payload);
      by.count.ok.inc();
      return identity;
    } catch (err) {
      const coded = err instanceof CodedError ? err : new CodedError('AUTH_INVALID');
      by.count[coded.code === 'AUTH_EXPIRED' ? 'expired' : 'invalid'].inc();
      throw coded;
    }
  };
}
