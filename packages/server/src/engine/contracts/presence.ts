import type { Metadata, PresenceInfo, PresenceStatus } from '@intelgraph/websocket-protocol';
import type { RoomKey } from './room-key.js';

/**
 * Set on a `join` that found the room without any entry (`occupied`) and on a `leave` that removed
 * its last entry (`vacated`, expired entries of dead instances included until the sweep removes
 * them), decided in the same atomic step as the change: among concurrent joins and leaves on any
 * instances, exactly one reports each transition.
 */
export type RoomTransition = 'occupied' | 'vacated';

/** One connection's entry in a room, as stored. */
export interface PresenceConnection {
  connectionId: string;
  userId: string;
  status: PresenceStatus;
  metadata?: Metadata;
  /** The server instance owning the connection. */
  serverId: string;
}

/**
 * What a store operation changed for one user in one room, to be announced:
 * - `join`: the user's first connection entered the room (`user` set);
 * - `update`: the user's aggregated entry changed (`user` set);
 * - `leave`: the user's last connection left (`userId` set);
 * - `restore`: the user had no entry and `upsert` re-created one from what the
 *   owning instance holds (`user` set). Nobody joined: the store had lost the
 *   entry (Redis restarted without its data, a failover to a replica that had
 *   not received it), or the entry had expired while its instance could not
 *   refresh it (then a `leave` was reported before). Members are told with an
 *   idempotent `presence:join`; a webhook or an audit log should not report
 *   it as a join;
 * - `none`: nothing visible changed.
 */
export type PresenceChange =
  | { kind: 'join'; key: RoomKey; user: PresenceInfo; room?: RoomTransition }
  | { kind: 'update'; key: RoomKey; user: PresenceInfo }
  | { kind: 'leave'; key: RoomKey; userId: string; room?: RoomTransition }
  | { kind: 'restore'; key: RoomKey; user: PresenceInfo }
  | { kind: 'none'; key: RoomKey };

/** One connection in one room as the instance owning the connection knows it (for `PresenceStore.upsert`). */
export interface PresenceAssertion {
  key: RoomKey;
  conn: PresenceConnection;
}

/** Users of a room by their aggregated status. */
export interface StatusCounts {
  online: number;
  away: number;
  busy: number;
  offline: number;
}

/** How many are in a room now (live entries only). */
export interface RoomOccupancy {
  room: string;
  /** Live connection entries. */
  connections: number;
  /** Distinct users among them. */
  users: number;
  /** `users` split by each user's aggregated status (the counts add up to `users`). */
  byStatus: StatusCounts;
}

export interface RoomsQuery {
  /** Only rooms whose name starts with this. */
  prefix?: string;
  /** Only rooms whose name sorts after this one (the `next` of the previous page). */
  after?: string;
  /** Room names examined in this call, 1 to `MAX_ROOMS_PAGE` (larger values are lowered to it). */
  limit: number;
}

export interface RoomsPage {
  /** Rooms with live presence, by name (byte order of their UTF-8 names). */
  rooms: RoomOccupancy[];
  /** Set when more rooms may follow: pass it as `after` for the next page. */
  next?: string;
}

/** Room names one `PresenceStore.rooms` call examines at most. */
export const MAX_ROOMS_PAGE = 500;

/**
 * Presence per room, aggregated per user over that user's connections.
 * Entries expire unless refreshed within the timeout the store was built with;
 * `sweep` removes expired entries and returns each resulting change exactly
 * once, even when several instances sweep the same store concurrently.
 *
 * Status aggregation over a user's connections: `busy` if any connection is
 * busy (an explicit do-not-disturb wins), else the most available of
 * `online` > `away` > `offline`. `metadata` is the most recently set one.
 * `lastSeen` is the latest refresh of any of the user's connections.
 *
 * Each instance re-asserts its own connections' entries with `upsert` every
 * maintenance round (HEARTBEAT_INTERVAL / 2): what the store lost (a Redis
 * restarted empty) is re-created from the instance's truth within a round, and
 * the store's indexes (the per-tenant room index, each connection's rooms)
 * with it.
 */
export interface PresenceStore {
  join(key: RoomKey, conn: PresenceConnection, now: number): Promise<PresenceChange>;
  leave(key: RoomKey, connectionId: string, now: number): Promise<PresenceChange>;
  /** Sets the status (and metadata when given) of one connection in each of its rooms. */
  setStatus(
    keys: RoomKey[],
    connectionId: string,
    status: PresenceStatus,
    metadata: Metadata | undefined,
    now: number,
  ): Promise<PresenceChange[]>;
  /**
   * Makes each entry what the owning instance says it is and refreshes it:
   * a missing entry is created (a user without any entry in the room is a
   * `restore`), a differing status, metadata or server is overwritten (an
   * `update` when the user's entry changes visibly), an equal one is only
   * refreshed. Returns the visible changes, at most one per user and room.
   */
  upsert(entries: readonly PresenceAssertion[], now: number): Promise<PresenceChange[]>;
  list(key: RoomKey, now: number): Promise<PresenceInfo[]>;
  /** Removes entries not refreshed within the timeout; returns the changes to announce. */
  sweep(now: number): Promise<PresenceChange[]>;
  /** How many connections and users are in the room now, and the users by status. */
  occupancy(key: RoomKey, now: number): Promise<RoomOccupancy>;
  /**
   * The tenant's rooms with live presence, by name, a page at a time: a call
   * examines at most `limit` room names of the tenant's room index, whatever
   * the number of rooms.
   */
  rooms(tenantId: string, query: RoomsQuery, now: number): Promise<RoomsPage>;
  /** The rooms the connection has a live presence entry in, on whichever instance it is, by name. */
  roomsOf(connectionId: string, now: number): Promise<string[]>;
  /** Total entries (user-rooms), for metrics. */
  size?(): Promise<number>;
}
