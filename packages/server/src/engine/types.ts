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
 * `acquire` fails when the count would exceed `max`; it is atomic, so the
 * cap holds whatever the interleaving of concurrent acquires.
 */
export interface CounterStore {
  acquire(key: string, member: string, max: number, now: number): Promise<boolean>;
  release(key: string, member: string): Promise<void>;
  touch(members: { key: string; member: string }[], now: number): Promise<void>;
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
  readonly stream: RoomStream;
  readonly presence: PresenceStore;
  /** Token buckets shared by every instance of the deployment (one process for the embedded engine). */
  readonly rateLimiter: RateLimiter;
  readonly counters: CounterStore;
  readonly health: HealthCheck[];
}
