/**
 * Revocations of users' tokens: a user's tokens issued before a time are refused until the
 * revocation expires (once every token it covers has expired). A later revocation of the same user
 * covers every token an earlier one did: the latest time is kept, with the latest expiry.
 */
export interface RevocationStore {
  /** Refuses the user's tokens issued before `before` (ms) until `until` (ms); returns the time now in force. */
  revoke(tenantId: string, userId: string, before: number, until: number): Promise<number>;
  /** The time (ms) before which the user's tokens are refused, or undefined. */
  revokedBefore(tenantId: string, userId: string, now: number): Promise<number | undefined>;
}
