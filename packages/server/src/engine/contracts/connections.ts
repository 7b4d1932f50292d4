/** One connection as the connection registry holds it. */
export interface ConnectionRecord {
  tenantId: string;
  userId: string;
  connectionId: string;
  /** The instance owning the connection. */
  serverId: string;
  /** When the connection was established (ms). */
  connectedAt: number;
}

export interface Acquired {
  /** The connection is registered (false: the user is at `max` or the token is revoked; nothing was written). */
  held: boolean;
  /** Held, and the user has no other live connection on any instance. */
  first: boolean;
  /** Not held because the token is revoked (only when `acquire` was given the token to check). */
  revoked?: true;
}

/** The token a connection holds, as `acquire` checks it against the user's revocation (RevocationStore). */
export interface TokenCheck {
  /** The token's issued-at (ms), undefined when it has none (any revocation then refuses it). */
  issuedAt: number | undefined;
}

export interface Released {
  /** The user has no live connection left on any instance. */
  last: boolean;
}

export interface ServerReleased {
  /** Records of the instance that were removed (0: none were left, another call removed them). */
  removed: number;
  /** Records were removed and the user has no live connection left. */
  last: boolean;
}

/**
 * Every live connection of the deployment, by user (shared by all instances on
 * Redis): MAX_CONNECTIONS_PER_USER, and who is connected where. A record counts
 * while its instance refreshes it (`touch`, every maintenance round); the
 * records of an instance that died without releasing them stop counting once
 * not refreshed for the registry's stale time (default 120 s) and are removed
 * by later calls. Counts are never kept apart from the records, so none can
 * drift or go below zero; a registry that lost its records (a Redis restarted
 * empty) is filled again by the owners' next `touch`.
 */
export interface ConnectionRegistry {
  /**
   * Registers the connection unless the user already holds `max` other live
   * connections (`max` 0: no limit). Atomic: the cap holds whatever the
   * interleaving of concurrent acquires on any instances. Registering a
   * connection already registered refreshes it.
   * With `token`, a token the engine's revocation store refuses (see `isRevoked`) is not registered:
   * `{ held: false, first: false, revoked: true }`. The cap is decided first: a revoked token of a
   * user at the cap is refused for the cap. On one Redis both are one script; on a Cluster the
   * revocation key is in another slot and is read beside the script (a revoked connection is then
   * registered for a moment and released before `acquire` answers).
   */
  acquire(record: ConnectionRecord, max: number, now: number, token?: TokenCheck): Promise<Acquired>;
  /** Removes the connection (nothing happens when it is not registered). */
  release(record: Pick<ConnectionRecord, 'tenantId' | 'userId' | 'connectionId'>, now: number): Promise<Released>;
  /** Registers or refreshes each record (an upsert: a lost record comes back). Ignores `max`. */
  touch(records: readonly ConnectionRecord[], now: number): Promise<void>;
  /** The user's live connections, oldest first. */
  list(tenantId: string, userId: string, now: number): Promise<ConnectionRecord[]>;
  /**
   * Removes the user's records owned by `serverId` (an instance that died), in one step: of
   * concurrent calls for the same user and instance, only the one that removed records can report
   * `last`.
   */
  releaseServer(tenantId: string, userId: string, serverId: string, now: number): Promise<ServerReleased>;
}
