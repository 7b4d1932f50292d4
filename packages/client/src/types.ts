import type {
  ClientToServerEvents,
  HistoryDirection,
  PresenceInfo,
  ConnectionEstablished,
  PresenceJoin,
  PresenceLeave,
  PresenceUpdate,
  RoomJoined,
  RoomLeft,
  RoomMessage,
  ServerToClientEvents,
  SystemError,
  SystemRestart,
} from '@intelgraph/websocket-protocol';
import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client';
import type { BackoffOptions } from './backoff.js';
import type { CallOptions } from './call.js';
import type { WebSocketClientError } from './errors.js';
import type { Logger } from './logger.js';
import type { ConnectionState, StateChange } from './state.js';
import type { Timers } from './timers.js';

/** The Socket.IO socket the client drives. */
export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
export type SocketFactoryOptions = Partial<ManagerOptions & SocketOptions>;
/** Creates one socket per connection attempt (default: socket.io-client's `io`). */
export type SocketFactory = (url: string, options: SocketFactoryOptions) => ClientSocket;

export type Transport = 'websocket' | 'polling' | 'webtransport';

export interface WebSocketClientOptions {
  /** Server URL (`http(s)://` or `ws(s)://`). Give `url`, `urls`, or both (`url` is tried first). */
  url?: string;
  /** Server URLs tried in rotation: a failed connection attempt moves to the next one. */
  urls?: readonly string[];
  /** The JWT to present. Optional when `getToken` is given. */
  token?: string;
  /**
   * Supplies a fresh token: called when there is no `token`, when the token has expired, before it
   * expires (the new one is sent with `auth:refresh`), and after the server reported `AUTH_EXPIRED`.
   */
  getToken?: () => string | Promise<string>;
  /** Tenant to connect to; the server refuses with `TENANT_MISMATCH` when it is not the token's. */
  tenantId?: string;
  /** Connect from the constructor. Default true. */
  autoConnect?: boolean;
  /** Reconnect delays (full-jitter exponential). Default `{ minDelayMs: 500, maxDelayMs: 30000, factor: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Offline queue: at most `maxSize` messages awaiting acknowledgement (default 1000); more reject with `QUEUE_FULL`. */
  queue?: { maxSize?: number };
  /** Presence heartbeat period in ms. Default: the server's `heartbeatInterval`. `0` turns heartbeats off. */
  heartbeatIntervalMs?: number;
  /** Browsers: set presence `away` after this many ms without user activity, `online` again on activity. Off by default. */
  idleTimeoutMs?: number;
  /** Socket.IO transports, in order of preference. Default `['websocket', 'polling']`. */
  transports?: Transport[];
  /** Socket.IO path. Default `/socket.io`. */
  path?: string;
  /** How long to wait for the server to acknowledge a request, in ms. Default 10000. */
  ackTimeoutMs?: number;
  /** How long one connection attempt may take, in ms. Default 20000. */
  connectTimeoutMs?: number;
  /** Refresh the token this long before it expires, in ms (earlier for short-lived tokens). Default 30000. */
  tokenRefreshMarginMs?: number;
  /**
   * Failed connection attempts in a row after which the client gives up: `failed` with `RECONNECT_FAILED`.
   * Counted from the last successful connection (or `connect()`). Default: no limit.
   */
  maxReconnectAttempts?: number;
  /**
   * Also deliver this client's own messages to it (`room:message` and the room's `message`), once the server
   * acknowledged them. The server never sends a connection its own messages, so by default the sender does
   * not see them. An echoed message comes when its acknowledgement does, which may be before a message of
   * another member with a lower id that is still on its way: sort by `id` where the order matters.
   * Default false.
   */
  echo?: boolean;
  /** Where to report connection changes, retries and failures (`console`, pino, ...). Default: silent. */
  logger?: Partial<Logger>;
  /** Timer functions (for tests). */
  timers?: Timers;
  /** Socket constructor (for tests and custom transports). */
  socketFactory?: SocketFactory;
}

/** What `joinRoom` resolves with: the join acknowledgement without `success`. */
export interface JoinResult<T = unknown> {
  room: string;
  messages?: RoomMessage<T>[];
  recovered?: boolean;
  hasMore?: boolean;
}

export interface HistoryOptions extends CallOptions {
  /** Only messages with an id greater than this one. */
  since?: string;
  /** Only messages with an id lower than this one. */
  before?: string;
  /** Page size (server default 100, at most 1000). */
  limit?: number;
  /** `forward` (default): oldest first. `backward`: newest first, and `hasMore` means older messages remain. */
  direction?: HistoryDirection;
}

export interface HistoryPage<T = unknown> {
  messages: RoomMessage<T>[];
  /** More messages follow in the reading direction: newer ones going `forward`, older ones going `backward`. */
  hasMore: boolean;
  recovered: boolean;
}

/** `sendMessage`'s options (the third argument may also be the `persistent` flag alone). */
export interface SendOptions extends CallOptions {
  /** Store the message in the room's history. Default false. */
  persistent?: boolean;
}

export interface RecoveryFailed {
  room: string;
}

/**
 * Why the client is no longer in a room (or no longer joining it):
 * - `leave`: `leaveRoom`/`room.leave()` was called, or a join was aborted or timed out;
 * - `refused`: the server refused the join or a re-join (`error` says why, e.g. `FORBIDDEN`);
 * - `disconnect`: `disconnect()` ended the session;
 * - `failed`: the client failed (`error` says why).
 * A connection loss is not a leave: the room is re-joined after the reconnect.
 */
export type RoomLeftReason = 'leave' | 'refused' | 'disconnect' | 'failed';

export interface RoomLeaving {
  room: string;
  reason: RoomLeftReason;
  error?: WebSocketClientError;
}

/** Events of a room object (`client.room(name)`), with their listener signatures. */
export interface RoomEvents<T = unknown> {
  /** A message of this room, live or recovered: once per id, in id order (echoes aside, see `echo`). */
  message: (message: RoomMessage<T>) => void;
  /** Who is in the room changed (or was loaded after a join): the whole map, by user id. */
  presence: (presence: ReadonlyMap<string, PresenceInfo>) => void;
  /** A re-join could not recover every message missed: reload the room (e.g. `history({ direction: 'backward' })`). */
  'recovery-failed': (data: RecoveryFailed) => void;
  /** The client is no longer in the room. */
  left: (data: RoomLeaving) => void;
}

export interface TokenRefreshed {
  /** When the new token expires (ms since the epoch), if known. */
  expiresAt?: number;
}

/** Every event the client emits, with its listener signature. */
export interface WebSocketClientEvents {
  /** The connection state changed: the new state, then `{ oldState, newState, reason?, error? }`. */
  'status:change': (status: ConnectionState, change: StateChange) => void;
  'connection:established': (data: ConnectionEstablished) => void;
  /** A room message, live or recovered: once per id, in id order per room. */
  'room:message': (message: RoomMessage) => void;
  'room:joined': (data: RoomJoined) => void;
  'room:left': (data: RoomLeft) => void;
  /** A re-join could not recover every message missed (history expired or lost): reload the room. */
  'room:recovery-failed': (data: RecoveryFailed) => void;
  'presence:join': (data: PresenceJoin) => void;
  'presence:update': (data: PresenceUpdate) => void;
  'presence:leave': (data: PresenceLeave) => void;
  'system:restart': (data: SystemRestart) => void;
  'system:error': (data: SystemError) => void;
  /** The token was refreshed on the open connection. */
  'token:refreshed': (data: TokenRefreshed) => void;
  /** A connection attempt failed (the client retries unless the code is terminal). */
  connect_error: (error: WebSocketClientError) => void;
  /** A failure not tied to a call: terminal refusal, a room that could not be re-joined, a failed token refresh. */
  error: (error: WebSocketClientError) => void;
}
