import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTHeaderParameters, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { TENANT_ID_PATTERN } from '@intelgraph/websocket-protocol';
import { CodedError } from '../errors.js';

/** What the server knows of a connection's user, from its token. */
export interface Identity {
  userId: string;
  tenantId: string;
  /** Milliseconds since the epoch; undefined when the token has no `exp`. */
  expiresAt?: number;
  name?: string;
  roles: string[];
  /** Allowed room patterns; undefined means every room of the tenant. */
  rooms?: string[];
}

const claimsSchema = z.object({
  sub: z.string().min(1).max(256),
  tenantId: z.string().regex(TENANT_ID_PATTERN),
  exp: z.number().optional(),
  name: z.string().max(256).optional(),
  roles: z.array(z.string().max(256)).max(256).optional(),
  rooms: z.array(z.string().min(1).max(129)).max(1000).optional(),
});

export interface VerifierOptions {
  secret?: string;
  publicKey?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  requireExp: boolean;
}

export type TokenVerifier = (token: string) => Promise<Identity>;

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];

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

/**
 * Builds the token verifier. HS256 with the shared secret; RS/ES/EdDSA with a PEM
 * public key or a JWKS URL. Only configured algorithms are accepted, so `alg: none`
 * and algorithm confusion are refused.
 */
export function createVerifier(opts: VerifierOptions): TokenVerifier {
  const secret = opts.secret !== undefined ? new TextEncoder().encode(opts.secret) : undefined;
  const publicKey = opts.publicKey !== undefined ? createPublicKey(opts.publicKey) : undefined;
  const publicAlgs = publicKey ? asymmetricAlgs(publicKey) : [];
  const jwks = opts.jwksUrl !== undefined ? createRemoteJWKSet(new URL(opts.jwksUrl)) : undefined;
  const jwksAlgs = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];
  const algorithms = [...(secret ? HMAC_ALGS : []), ...publicAlgs, ...(jwks ? jwksAlgs : [])];

  // jose imports a raw secret as a CryptoKey on every verification; import it once per HMAC algorithm.
  const hmacKeys = new Map<string, Promise<webcrypto.CryptoKey>>();
  const hmacKey = (raw: Uint8Array, alg: string): Promise<webcrypto.CryptoKey> => {
    let key = hmacKeys.get(alg);
    if (!key) {
      key = webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']);
      hmacKeys.set(alg, key);
    }
    return key;
  };

  const getKey: JWTVerifyGetKey = async (header: JWTHeaderParameters, token) => {
    const alg = header.alg;
    if (secret && HMAC_ALGS.includes(alg)) return hmacKey(secret, alg);
    if (publicKey && publicAlgs.includes(alg)) return publicKey;
    if (jwks && jwksAlgs.includes(alg)) return jwks(header, token);
    throw new joseErrors.JOSEAlgNotAllowed(`algorithm ${alg} is not allowed`);
  };

  return async (token: string): Promise<Identity> => {
    if (typeof token !== 'string' || token.length === 0) throw new CodedError('AUTH_REQUIRED');
    if (token.length > 16_384) throw new CodedError('AUTH_INVALID', 'The token is too long');
    let payload: unknown;
    try {
      const result = await jwtVerify(token, getKey, {
        algorithms,
        ...(opts.issuer !== undefined && { issuer: opts.issuer }),
        ...(opts.audience !== undefined && { audience: opts.audience }),
        ...(opts.requireExp && { requiredClaims: ['exp'] }),
      });
      payload = result.payload;
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new CodedError('AUTH_EXPIRED');
      if (err instanceof joseErrors.JWTClaimValidationFailed) throw new CodedError('AUTH_INVALID', `The token's ${err.claim} claim is invalid`);
      throw new CodedError('AUTH_INVALID');
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) {
      const field = String(claims.error.issues[0]?.path[0] ?? 'claims');
      throw new CodedError('AUTH_INVALID', `The token's ${field} claim is missing or invalid`);
    }
    const c = claims.data;
    const identity: Identity = { userId: c.sub, tenantId: c.tenantId, roles: c.roles ?? [] };
    if (c.exp !== undefined) identity.expiresAt = c.exp * 1000;
    if (c.name !== undefined) identity.name = c.name;
    if (c.rooms !== undefined) identity.rooms = c.rooms;
    return identity;
  };
}
