import type {
  ClientToServerEvents,
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
import type { WebSocketClientError } from './errors.js';
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
  /** Timer functions (for tests). */
  timers?: Timers;
  /** Socket constructor (for tests and custom transports). */
  socketFactory?: SocketFactory;
}

/** What `joinRoom` resolves with: the join acknowledgement without `success`. */
export interface JoinResult {
  room: string;
  messages?: RoomMessage[];
  recovered?: boolean;
  hasMore?: boolean;
}

export interface HistoryOptions {
  /** Only messages with an id greater than this one. */
  since?: string;
  /** Page size (server default 100, at most 1000). */
  limit?: number;
}

export interface HistoryPage {
  messages: RoomMessage[];
  hasMore: boolean;
  recovered: boolean;
}

export interface RecoveryFailed {
  room: string;
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
