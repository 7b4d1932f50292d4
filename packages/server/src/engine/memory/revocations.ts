import type { RevocationStore } from '../types.js';

/** Revocations kept in this process; expired ones are dropped by `sweep` (and ignored before). */
export class MemoryRevocationStore implements RevocationStore {
  /** `tenant` NUL `user` -> revocation: a tenant id holds no NUL, so no two users share a key. */
  private readonly byUser = new Map<string, { before: number; until: number }>();

  async revoke(tenantId: string, userId: string, before: number, until: number): Promise<number> {
    const k = `${tenantId}\u0000${userId}`;
    const current = this.byUser.get(k);
    if (current && current.until > Date.now() && current.before >= before) return current.before;
    this.byUser.set(k, { before, until });
    return before;
  }

  async revokedBefore(tenantId: string, userId: string, now: number): Promise<number | undefined> {
    return this.beforeAt(tenantId, userId, now);
  }

  /** `revokedBefore` at once (the memory connection registry checks tokens with it in the same step). */
  beforeAt(tenantId: string, userId: string, now: number): number | undefined {
    const r = this.byUser.get(`${tenantId}\u0000${userId}`);
    return r && r.until > now ? r.before : undefined;
  }

  sweep(now = Date.now()): void {
    for (const [k, r] of this.byUser) if (r.until <= now) this.byUser.delete(k);
  }
}
