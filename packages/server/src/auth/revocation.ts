import { CodedError } from '../errors.js';
import type { Identity } from './verify.js';

/** Whether a token issued at `issuedAt` (ms; undefined without `iat`) falls under a revocation of tokens issued before `before`. */
export function isRevoked(issuedAt: number | undefined, before: number): boolean {
  // Without `iat` nothing shows the token was issued after the revocation.
  return issuedAt === undefined || issuedAt < before;
}

/** What the check needs of the engine's revocation store. */
export interface RevokedBefore {
  revokedBefore(tenantId: string, userId: string, now: number): Promise<number | undefined>;
}

/** Refuses with TOKEN_REVOKED a token of a user whose tokens issued before it were revoked. */
export async function assertNotRevoked(store: RevokedBefore, identity: Identity, now = Date.now()): Promise<void> {
  const before = await store.revokedBefore(identity.tenantId, identity.userId, now);
  if (before !== undefined && isRevoked(identity.issuedAt, before)) throw new CodedError('TOKEN_REVOKED');
}
