import type { HistoryDirection, RoomMessage } from '@intelgraph/websocket-protocol';
import type { RateBucket } from './rate-limiter.js';
import type { RoomKey } from './room-key.js';

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
