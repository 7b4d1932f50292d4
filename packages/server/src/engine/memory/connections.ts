import { isRevoked } from '../../auth/revocation.js';
import type { Acquired, ConnectionRecord, ConnectionRegistry, Released, ServerReleased, TokenCheck } from '../types.js';
import type { MemoryRevocationStore } from './revocations.js';

interface Held {
  record: ConnectionRecord;
  /** Last acquire or touch (ms). */
  seenAt: number;
}

/** Default of the registries' stale time: a record not refreshed for this long no longer counts. */
export const DEFAULT_CONNECTION_STALE_MS = 120_000;

/**
 * The connection registry of one process. A record not refreshed within `staleMs` stops counting as
 * on Redis (the contract is the same), although in one process every connection is released when it
 * closes.
 */
export class MemoryConnectionRegistry implements ConnectionRegistry {
  /** tenant -> user -> connection id -> record */
  private readonly tenants = new Map<string, Map<string, Map<string, Held>>>();

  /** `revocations`: the store `acquire` checks a token against (the engine's); without it no token is refused. */
  constructor(
    private readonly staleMs = DEFAULT_CONNECTION_STALE_MS,
    private readonly revocations?: MemoryRevocationStore,
  ) {}

  async acquire(record: ConnectionRecord, max: number, now: number, token?: TokenCheck): Promise<Acquired> {
    const held = this.userOf(record.tenantId, record.userId, now, true) as Map<string, Held>;
    const others = held.size - (held.has(record.connectionId) ? 1 : 0);
    // The cap first, then the revocation: the order lib/acquire.lua keeps on Redis.
    if (max > 0 && others >= max) {
      this.forgetIfEmpty(record.tenantId, record.userId);
      return { held: false, first: false };
    }
    if (token && this.revocations) {
      const before = this.revocations.beforeAt(record.tenantId, record.userId, now);
      if (before !== undefined && isRevoked(token.issuedAt, before)) {
        this.forgetIfEmpty(record.tenantId, record.userId);
        return { held: false, first: false, revoked: true };
      }
    }
    held.set(record.connectionId, { record: { ...record }, seenAt: now });
    return { held: true, first: others === 0 };
  }

  async release(record: Pick<ConnectionRecord, 'tenantId' | 'userId' | 'connectionId'>, now: number): Promise<Released> {
    const held = this.userOf(record.tenantId, record.userId, now, false);
    held?.delete(record.connectionId);
    this.forgetIfEmpty(record.tenantId, record.userId);
    return { last: !held || held.size === 0 };
  }

  async touch(records: readonly ConnectionRecord[], now: number): Promise<void> {
    for (const r of records) (this.userOf(r.tenantId, r.userId, now, true) as Map<string, Held>).set(r.connectionId, { record: { ...r }, seenAt: now });
  }

  async list(tenantId: string, userId: string, now: number): Promise<ConnectionRecord[]> {
    const held = this.userOf(tenantId, userId, now, false);
    if (!held) return [];
    this.forgetIfEmpty(tenantId, userId);
    return [...held.values()].sort((a, b) => a.record.connectedAt - b.record.connectedAt).map((h) => ({ ...h.record }));
  }

  async releaseServer(tenantId: string, userId: string, serverId: string, now: number): Promise<ServerReleased> {
    const held = this.userOf(tenantId, userId, now, false);
    let removed = 0;
    for (const [id, h] of held ?? []) {
      if (h.record.serverId !== serverId) continue;
      held?.delete(id);
      removed++;
    }
    this.forgetIfEmpty(tenantId, userId);
    return { removed, last: removed > 0 && (held?.size ?? 0) === 0 };
  }

  /** The user's live records, stale ones dropped; made when `create`. */
  private userOf(tenantId: string, userId: string, now: number, create: boolean): Map<string, Held> | undefined {
    let users = this.tenants.get(tenantId);
    if (!users) {
      if (!create) return undefined;
      this.tenants.set(tenantId, (users = new Map()));
    }
    let held = users.get(userId);
    if (!held) {
      if (!create) return undefined;
      users.set(userId, (held = new Map()));
    }
    for (const [id, h] of held) if (h.seenAt < now - this.staleMs) held.delete(id);
    return held;
  }

  private forgetIfEmpty(tenantId: string, userId: string): void {
    const users = this.tenants.get(tenantId);
    if (users?.get(userId)?.size === 0) users.delete(userId);
    if (users?.size === 0) this.tenants.delete(tenantId);
  }
}
