import { roomKeyString, type RoomKey } from '../types.js';

/**
 * Names of every key and channel the Redis engine uses.
 *
 * All keys of one room carry the hash tag `{tenant#room}`, so they live in one
 * Redis Cluster slot and one Lua script may touch them together; the room's
 * sharded pub/sub channel carries the same tag, so a script can SPUBLISH on it
 * from the node that owns the room. A tenant's rate-limit buckets carry the
 * tag `{tenant}`, so one script checks the user's and the tenant's together.
 * A user's connection registry carries the tag `{tenant#user}`, so one script
 * updates its two keys. Other keys (presence indexes, instance records) are
 * only ever used by single-key commands, so their slot does not matter.
 */
export class KeySpace {
  constructor(readonly prefix = 'ig:') {
    // A brace in the prefix would become the hash tag of every key and put all rooms in one slot.
    if (/[{}]/.test(prefix)) throw new Error(`Redis key prefix must not contain braces: ${prefix}`);
  }

  /** `<prefix>{tenant#room}`: the common start of a room's keys. */
  room(key: RoomKey): string {
    return `${this.prefix}{${roomKeyString(key)}}`;
  }

  /** Hash: epoch, seq (last assigned), dropped (highest sequence lost to trimming or expiry). */
  historyMeta(key: RoomKey): string {
    return `${this.room(key)}:h:meta`;
  }

  /** Sorted set of stored messages scored by sequence; member `<expiresAtMs>|<message JSON>`. */
  historyLog(key: RoomKey): string {
    return `${this.room(key)}:h:log`;
  }

  /**
   * Duplicate-window entry of one sender's clientMessageId. The sender id's
   * length is part of the name so `a:b`+`c` and `a`+`b:c` never collide.
   */
  dedupe(key: RoomKey, from: string, clientMessageId: string): string {
    return `${this.room(key)}:h:dup:${from.length}:${from}:${clientMessageId}`;
  }

  /** Pub/sub channel of a room's messages. */
  channel(key: RoomKey): string {
    return `${this.room(key)}:m`;
  }

  /** Hash of a room's presence entries: fields `u:`, `s:`, `sv:`, `ma:`, `m:` + connection id. */
  presenceEntries(key: RoomKey): string {
    return `${this.room(key)}:p:c`;
  }

  /** Sorted set of a room's connections scored by last touch (ms). */
  presenceSeen(key: RoomKey): string {
    return `${this.room(key)}:p:t`;
  }

  /** Prefix of a room's per-user sets of connection ids (the user id follows). */
  presenceUserPrefix(key: RoomKey): string {
    return `${this.room(key)}:p:u:`;
  }

  /** Sorted set of room keys scored by the earliest time one of their entries may expire. */
  presenceDue(): string {
    return `${this.prefix}presence:due`;
  }

  /** Set of the room keys a connection has presence in (to find them on touch). */
  presenceConnection(connectionId: string): string {
    return `${this.prefix}presence:conn:${connectionId}`;
  }

  /** A rate-limit bucket (a string `<tokens>|<atMs>`, lua/lib/consume.lua): the group (a tenant) is the hash tag, so one script may take several of a group. */
  rateBucket(group: string, key: string): string {
    return `${this.prefix}bucket:{${group}}:${key}`;
  }

  /** A user's revocation (the time before which its tokens are refused); the tenant id holds no `:`. */
  revocation(tenantId: string, userId: string): string {
    return `${this.prefix}revoked:${tenantId}:${userId}`;
  }

  /** Sorted set of a tenant's room names with presence (all scored 0: read by name with ZRANGEBYLEX). */
  presenceRooms(tenantId: string): string {
    return `${this.prefix}presence:rooms:${tenantId}`;
  }

  /** `<prefix>user:{tenant#user}`: the common start of a user's registry keys. */
  private user(tenantId: string, userId: string): string {
    return `${this.prefix}user:{${tenantId}#${userId}}`;
  }

  /** Sorted set of a user's connection ids scored by their last refresh (ms). */
  userConnections(tenantId: string, userId: string): string {
    return `${this.user(tenantId, userId)}:conn`;
  }

  /** Hash of a user's connection id -> record JSON (`serverId`, `connectedAt`). */
  userRecords(tenantId: string, userId: string): string {
    return `${this.user(tenantId, userId)}:rec`;
  }

  /** Sorted set of instance ids scored by when their record expires (ms). */
  instances(): string {
    return `${this.prefix}instances`;
  }

  /** An instance's record (JSON), with the record's time to live. */
  instance(serverId: string): string {
    return `${this.prefix}instance:${serverId}`;
  }

  /** `<prefix>{webhooks}:`: the start of every key of the webhook outbox, all in one slot (lua/lib/webhooks.lua). */
  webhooks(): string {
    return `${this.prefix}{webhooks}:`;
  }

  /** Sorted set of instances tracked for webhooks, scored by when each last said it is alive (ms). */
  webhookServers(): string {
    return `${this.prefix}webhooks:servers`;
  }

  /** Set of the users (`[tenantId, userId]` JSON) with connections on an instance. */
  webhookServerUsers(serverId: string): string {
    return `${this.prefix}webhooks:server:${serverId}`;
  }
}
