/**
 * The seams between the real-time layer and the state Socket.IO does not keep.
 * Each interface has a memory implementation (engine/memory, the embedded
 * default) and a Redis implementation (engine/redis, for many instances); one
 * contract test suite per interface runs against both.
 */
import type { PresenceInfo, PresenceStatus, RoomMessage, Metadata } from '@intelgraph/websocket-protocol';

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

/** A message before the store gave it an id. */
export interface NewMessage {
  from: string;
  payload: unknown;
  timestamp: number;
  /** Sender-chosen id used to drop repeats within the duplicate window. */
  clientMessageId?: string;
}

export interface AppendOptions {
  /** Store in history (true) or only assign an id (false). */
  persistent: boolean;
  /**
   * Token buckets to take in the same step as the append, for a store whose
   * `takesLimits` is true (brokers pass them only to such a store): when a
   * bucket is short of tokens, nothing is appended and the append rejects
   * with `RateRefusedError`.
   */
  limits?: PublishLimits;
}

/** Token buckets taken for one message, as `RateLimiter.consumeAll(group, buckets)` takes them. */
export interface PublishLimits {
  group: string;
  buckets: readonly RateBucket[];
}

export interface PublishOptions extends AppendOptions {
  /** The sending connection, which does not receive its own message. */
  exceptConnectionId?: string;
}

export interface AppendResult {
  message: RoomMessage;
  /** True when `clientMessageId` was seen within the window: `message` is the first one, not to be delivered again. */
  duplicate: boolean;
}

export interface HistoryPage {
  /** Oldest first. */
  messages: RoomMessage[];
  /** More messages after the last one returned. */
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

/**
 * Message ids and history. `append` is atomic: id assignment, duplicate check,
 * storage, trimming and expiry happen together, so ids within a room are
 * strictly increasing in the order appends complete.
 *
 * Id format: `<16-digit zero-padded sequence>-<8-char epoch>`. A room's
 * sequence starts at the creation time in microseconds, so the ids of a
 * history that was lost and started again still sort after the old ones,
 * and its new epoch tells `read` that `since` values from before are not
 * continuous with it.
 */
export interface HistoryStore {
  /**
   * True when `append` takes `opts.limits` itself, in the same atomic step (the
   * Redis store on a single Redis: one script). Otherwise brokers take the
   * limits from the rate limiter before appending.
   */
  readonly takesLimits?: boolean;
  append(key: RoomKey, msg: NewMessage, opts: AppendOptions): Promise<AppendResult>;
  read(key: RoomKey, opts: { since?: string; limit: number }): Promise<HistoryPage>;
  /**
   * The room's newest id (stored or not): a position to recover from. A room
   * without history state gets one (a new epoch), and the position is just
   * before its first message.
   */
  head(key: RoomKey): Promise<string>;
  /** Stored messages in all rooms (for metrics); may be approximate for Redis. */
  size?(): Promise<number>;
}

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
 * - `none`: nothing visible changed.
 */
export type PresenceChange =
  | { kind: 'join'; key: RoomKey; user: PresenceInfo }
  | { kind: 'update'; key: RoomKey; user: PresenceInfo }
  | { kind: 'leave'; key: RoomKey; userId: string }
  | { kind: 'none'; key: RoomKey };

/**
 * Presence per room, aggregated per user over that user's connections.
 * Entries expire unless touched within the timeout the store was built with;
 * `sweep` removes expired entries and returns each resulting change exactly
 * once, even when several instances sweep the same store concurrently.
 *
 * Status aggregation over a user's connections: `busy` if any connection is
 * busy (an explicit do-not-disturb wins), else the most available of
 * `online` > `away` > `offline`. `metadata` is the most recently set one.
 * `lastSeen` is the latest touch of any of the user's connections.
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
  /** Keeps the connections' entries alive. */
  touch(connectionIds: string[], now: number): Promise<void>;
  list(key: RoomKey, now: number): Promise<PresenceInfo[]>;
  /** Removes entries not touched within the timeout; returns the changes to announce. */
  sweep(now: number): Promise<PresenceChange[]>;
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

/**
 * Counts held resources shared by instances (connections per user).
 * `acquire` fails when the count would exceed `max`.
 */
export interface CounterStore {
  acquire(key: string, member: string, max: number, now: number): Promise<boolean>;
  release(key: string, member: string): Promise<void>;
  touch(members: { key: string; member: string }[], now: number): Promise<void>;
}

/**
 * Delivery of room messages to every instance's local members, in id order.
 * `publish` appends through the history store and delivers: the memory broker
 * delivers in-process; the Redis broker appends and publishes in one script so
 * every instance receives a room's messages in id order.
 */
export interface Broker {
  /**
   * Appends the message (storing it when persistent) and delivers it to every
   * subscribed instance. With `opts.limits`, the buckets are taken first (in
   * the same Redis script as the append where the store allows): when one is
   * short, nothing is appended or delivered and the promise rejects with
   * `RateRefusedError`.
   */
  publish(key: RoomKey, msg: NewMessage, opts: PublishOptions): Promise<AppendResult>;
  /** Called with every message for rooms this instance subscribed to. */
  onMessage(handler: (key: RoomKey, msg: RoomMessage, exceptConnectionId: string | undefined) => void): void;
  /** This instance has local members in the room; resolves once delivery to it is guaranteed. */
  subscribe(key: RoomKey): Promise<void>;
  unsubscribe(key: RoomKey): Promise<void>;
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
  readonly history: HistoryStore;
  readonly presence: PresenceStore;
  readonly rateLimiter: RateLimiter;
  readonly counters: CounterStore;
  readonly broker: Broker;
  readonly health: HealthCheck[];
}
