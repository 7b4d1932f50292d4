/**
 * The seams between the real-time layer and the state Socket.IO does not keep.
 * Each interface has a memory implementation (engine/memory, the embedded
 * default) and a Redis implementation (engine/redis, for many instances); one
 * contract test suite per interface runs against both (and a Redis Cluster).
 */
import type { HistoryDirection, PresenceInfo, PresenceStatus, RoomMessage, Metadata } from '@intelgraph/websocket-protocol';

/** A room of one tenant. Rooms of different tenants never share a key. */
export interface RoomKey {
  readonly tenantId: string;
  readonly room: string;
}

/** The Socket.IO room (and store key) of a tenant's room: `#` appears in neither part. */
export function roomKeyString(key: RoomKey): string {
  return `${key.tenantId}#${key.room}`;
}

export function parseRoomKey(value: string): RoomKey | undefined {
  const i = value.indexOf('#');
  if (i <= 0) return undefined;
  return { tenantId: value.slice(0, i), room: value.slice(i + 1) };
}

/** A message before the stream gave it an id. */
export interface NewMessage {
  from: string;
  payload: unknown;
  timestamp: number;
  /** Sender-chosen id used to drop repeats within the duplicate window. */
  clientMessageId?: string;
}

/** Token buckets taken for one message, as `RateLimiter.consumeAll(group, buckets)` takes them. */
export interface PublishLimits {
  group: string;
  buckets: readonly RateBucket[];
}

export interface PublishOptions {
  /** Store in history (true) or only assign an id and deliver (false). */
  persistent: boolean;
  /** The sending connection, which does not receive its own message. */
  exceptConnectionId?: string;
  /**
   * Token buckets taken in the same step as the append: when one is short of
   * tokens, nothing is appended or delivered and `publish` rejects with
   * `RateRefusedError` (a refusal charges no bucket).
   */
  limits?: PublishLimits;
}

export interface Published {
  message: RoomMessage;
  /** True when `clientMessageId` was seen within the window: `message` is the first one, not delivered again. */
  duplicate: boolean;
}

export interface ReadQuery {
  /** Only messages after this position (a message id, or a room position from `head`). */
  since?: string;
  /** Only messages with an id lower than this one. */
  before?: string;
  limit: number;
  /** `forward` (default): oldest first. `backward`: newest first. */
  direction?: HistoryDirection;
}

export interface HistoryPage {
  /** In the query's direction: oldest first (forward) or newest first (backward). */
  messages: RoomMessage[];
  /** More messages in the queried range beyond the last one returned (newer forward, older backward). */
  hasMore: boolean;
  /**
   * True when `since` was absent, or when every message after `since` is still
   * retained (nothing was lost). False when `since` is older than retention,
   * malformed, or from another epoch of the room's history (history lost).
   */
  recovered: boolean;
}

export interface Retention {
  /** Seconds a stored message is kept. */
  ttlSeconds: number;
  /** Messages kept per room. */
  maxMessages: number;
  /** Seconds a clientMessageId is remembered for duplicate suppression. */
  dedupeWindowSeconds: number;
}

export type Deliver = (key: RoomKey, msg: RoomMessage, exceptConnectionId: string | undefined) => void;

/**
 * What happens to a room's messages: publication (ids, persistence, duplicate
 * suppression, rate limits), reading, the room's position, and delivery to the
 * instances that hold members of the room.
 *
 * `publish` is atomic: id assignment, duplicate check, storage, trimming,
 * expiry and delivery order happen together, so ids within a room strictly
 * increase in the order publishes complete, and every subscribed instance
 * receives a room's messages in id order (a gap in what an instance received,
 * after its connection to the shared store dropped, is filled from history
 * before later messages are delivered).
 *
 * Id format: `<16-digit zero-padded sequence>-<8-char epoch>`. A history's
 * sequence starts at the time of its first message in microseconds, so the ids
 * of a history that was lost and started again still sort after the old ones,
 * and its new epoch tells `read` that `since` values from before are not
 * continuous with it.
 *
 * A room without history has no state at all: asking for its position,
 * reading it or subscribing to it stores nothing.
 */
export interface RoomStream {
  publish(key: RoomKey, msg: NewMessage, opts: PublishOptions): Promise<Published>;
  read(key: RoomKey, query: ReadQuery): Promise<HistoryPage>;
  /**
   * The room's position, to recover from: its newest id (stored or not), or,
   * for a room without history, a position (same format, epoch `00000000`)
   * just before the first message of any history begun after the call.
   */
  head(key: RoomKey): Promise<string>;
  /** This instance has local members in the room; resolves once delivery to it is guaranteed. */
  subscribe(key: RoomKey): Promise<void>;
  unsubscribe(key: RoomKey): Promise<void>;
  /** Called with every message of the rooms this instance subscribed to, in id order per room. */
  onMessage(deliver: Deliver): void;
  /** Stored messages in all rooms (for metrics); only where it is cheap to know. */
  size?(): Promise<number>;
}

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

export interface RateDecision {
  allowed: boolean;
  /** Milliseconds until one token is available (0 when allowed). */
  retryAfterMs: number;
}

/** One token bucket of a combined check: `rate` tokens per second, holding at most `burst`. */
export interface RateBucket {
  key: string;
  rate: number;
  burst: number;
  /** Tokens this use takes (default 1). */
  cost?: number;
}

export interface CombinedRateDecision extends RateDecision {
  /** When refused: the index of the first bucket short of tokens. */
  refusedBy?: number;
}

/** Token buckets: `rate` tokens per second, holding at most `burst`. A rate of 0 or less lets everything through. */
export interface RateLimiter {
  /**
   * Takes from every bucket or from none, in one step: allowed only when each bucket has enough
   * tokens, so a refusal by one bucket costs the others nothing. When refused, `retryAfterMs` is the
   * longest wait among the buckets short of tokens. Bucket keys are named within `group` (the
   * tenant): the buckets of one call share a group, which keeps them in one Redis Cluster slot.
   */
  consumeAll(group: string, buckets: readonly RateBucket[]): Promise<CombinedRateDecision>;
}

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
  /** The connection is registered (false: the user is at `max`, nothing was written). */
  held: boolean;
  /** Held, and the user has no other live connection on any instance. */
  first: boolean;
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
   */
  acquire(record: ConnectionRecord, max: number, now: number): Promise<Acquired>;
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

/** What one instance says of itself (see `InstanceRegistry`). */
export interface InstanceRecord {
  serverId: string;
  /** When the process started (ms). */
  startedAt: number;
  lifecycle: 'running' | 'draining' | 'closed';
  /** Socket.IO connections authenticated on the instance. */
  connections: number;
  /** Connections by tenant, the largest `MAX_TENANTS_PER_INSTANCE_RECORD` tenants only. */
  connectionsByTenant: Record<string, number>;
  /**
   * Per tenant since the instance started: `room:send` events received and client events refused
   * (the tenants with the most messages, `MAX_TENANTS_PER_INSTANCE_RECORD` at most). Absent in
   * records of instances that do not count.
   */
  countsByTenant?: Record<string, { messages: number; refused: number }>;
  /** Event loop delay (p99 over the last interval), ms. */
  eventLoopLagMs: number;
  /** When the record was published (ms). */
  updatedAt: number;
}

/** Tenants an instance record lists in `connectionsByTenant` at most. */
export const MAX_TENANTS_PER_INSTANCE_RECORD = 100;

/**
 * The live instances of the deployment: each publishes its record every few
 * seconds with a time to live; a record not published again within it is gone.
 * The embedded engine knows this instance only.
 */
export interface InstanceRegistry {
  publish(record: InstanceRecord, ttlMs: number): Promise<void>;
  /** The records whose time to live has not run out, by serverId. */
  instances(now: number): Promise<InstanceRecord[]>;
}

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

export interface Closer {
  close(): Promise<void>;
}

export interface HealthCheck {
  name: string;
  check(): Promise<{ ok: boolean; latencyMs?: number; detail?: string }>;
}

/** Everything the real-time layer needs from an engine. */
export interface Engine extends Closer {
  readonly name: 'memory' | 'redis';
  /** Room messages: ids, history, delivery to every instance with members. */
  readonly stream: RoomStream;
  /** Presence per room and user; rooms with live presence per tenant, and their occupancy. */
  readonly presence: PresenceStore;
  /** Token buckets shared by every instance of the deployment (one process for the embedded engine). */
  readonly rateLimiter: RateLimiter;
  /** Live connections by user, shared by every instance: MAX_CONNECTIONS_PER_USER, and where a user is connected. */
  readonly connections: ConnectionRegistry;
  /** The live instances of the deployment and what each reports of itself. */
  readonly instances: InstanceRegistry;
  readonly revocations: RevocationStore;
  /** The webhook outbox: held leaves, per-endpoint queues, leases, dead letters, crash tracking. */
  readonly webhooks: WebhookStore;
  readonly health: HealthCheck[];
}

/** An event on its way to the outbox: its JSON (as delivered), its id, who receives it, and its grace rule. */
export interface OutboxItem {
  id: string;
  /** `{ id, type, tenantId, time, data }` as JSON: stored and delivered as is. */
  json: string;
  /** Endpoint ids that receive it (none: it is dropped, unless it cancels a held leave). */
  endpoints: readonly string[];
  /**
   * A `leave` (member.left, room.vacated, user.offline) is held for the grace window; an `enter`
   * (member.joined, room.occupied, user.online) of the same subject during it cancels both.
   */
  hold?: { kind: 'enter' | 'leave'; subject: string };
}

/** One event in an endpoint's queue. */
export interface QueuedEvent {
  id: string;
  json: string;
  /** When it entered the queue (ms). */
  queuedAt: number;
}

/** A batch that was not delivered within the retry time, for one tenant. */
export interface DeadLetter {
  /** `dl_<failedAt, 13 digits>_<random>`: sorts by failure time. */
  id: string;
  tenantId: string;
  endpoint: string;
  url: string;
  events: QueuedEvent[];
  attempts: number;
  lastError: string;
  failedAt: number;
}

export interface DeadLetterQuery {
  /** Only this tenant's (undefined: every tenant's). */
  tenantId?: string;
  /** Only letters older than this id (the last id of the previous page). */
  before?: string;
  limit: number;
}

export interface DeadLetterLimits {
  /** Letters kept at most (the oldest go first). */
  max: number;
  /** Letters older than this are dropped (ms). */
  ttlMs: number;
}

/**
 * The webhook outbox, shared by every instance on Redis (all its keys in one Cluster slot, each
 * operation one script): so that each event, derived once by the instance whose store change made
 * it, is delivered by exactly one instance at a time, in order per endpoint.
 */
export interface WebhookStore {
  /**
   * Adds events in order: a `leave` is held until `now + graceMs` (graceMs 0: queued at once); an
   * `enter` whose subject has a held leave cancels both; anything else goes to the tail of each of
   * its endpoints' queues, unless that queue holds `queueMax` events (then it is dropped there).
   * Returns the number of (event, endpoint) pairs dropped.
   */
  add(items: readonly OutboxItem[], now: number, graceMs: number, queueMax: number): Promise<number>;
  /** Subjects of held leaves whose grace window ended, in the order they were held (at most `limit`). */
  due(now: number, limit: number): Promise<string[]>;
  /**
   * Queues the held leaves of `release` (in this order) and forgets those of `drop` (a leave no
   * longer true when its window ended). A subject no longer held (another instance settled it) is
   * skipped. Returns the number of events queued.
   */
  settle(release: readonly string[], drop: readonly string[], now: number, queueMax: number): Promise<number>;
  /** Endpoints with queued events. */
  active(): Promise<string[]>;
  /** The first `max` events of an endpoint's queue. */
  peek(endpoint: string, max: number): Promise<QueuedEvent[]>;
  /** Removes the queue's first events while they are these ids, in this order; returns how many. */
  ack(endpoint: string, ids: readonly string[]): Promise<number>;
  /** Like `ack`, and stores the letters, within `limits`; returns how many events were removed. */
  deadLetter(endpoint: string, ids: readonly string[], letters: readonly DeadLetter[], limits: DeadLetterLimits, now: number): Promise<number>;
  /** Takes or renews the delivery lease `name` for `owner`; false when another owner holds it. */
  lease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease back if `owner` holds it. */
  unlease(name: string, owner: string): Promise<void>;
  /** Newest first, expired ones left out. */
  deadLetters(query: DeadLetterQuery, now: number, ttlMs: number): Promise<DeadLetter[]>;
  /** One letter (undefined when there is none, or it expired). */
  letter(id: string, now: number, ttlMs: number): Promise<DeadLetter | undefined>;
  /** Queues a letter's events again at the tail of its endpoint's queue and removes the letter; undefined when there is none. */
  replay(id: string, now: number): Promise<DeadLetter | undefined>;
  /** Removes a letter; false when there was none. */
  discard(id: string): Promise<boolean>;
  /**
   * The users with connections on an instance, for the events of an instance that dies: `track` adds
   * them (and marks the instance as alive now), `untrack` removes one, `refresh` marks it alive
   * (false when its user set is missing: a store that lost it gets it back with `track`).
   */
  track(serverId: string, users: readonly string[], now: number): Promise<void>;
  untrack(serverId: string, user: string): Promise<void>;
  refresh(serverId: string, now: number): Promise<boolean>;
  /** Instances tracked and not marked alive since `before`. */
  silent(before: number): Promise<string[]>;
  /** Up to `max` users of a silent instance, removed from its set; an empty answer forgets the instance. */
  takeUsers(serverId: string, max: number): Promise<string[]>;
}
