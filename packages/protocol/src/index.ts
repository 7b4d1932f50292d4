/**
 * The wire contract between the server, the client SDK and any other
 * Socket.IO client. Both the server and the SDK import from here, so a change
 * to the contract is a change to one file.
 */

/**
 * What a refused connection (`connect_error`) with a code means for reconnecting:
 * - `retry`: reconnecting with the same credentials can succeed (after `retryAfterMs` when given, else after a backoff);
 * - `renew`: only with a new token;
 * - `stop`: not without a change by the user (other credentials, tenant or configuration).
 */
export type ReconnectAdvice = 'retry' | 'renew' | 'stop';

/** What the protocol says about one error code. */
export interface ErrorInfo {
  /** Default human-readable message; never carries secrets or internals. */
  readonly message: string;
  /** The status of an HTTP answer with this code. */
  readonly httpStatus: number;
  /**
   * Whether the same request, sent again unchanged, can succeed later: after `retryAfterMs`
   * when the answer carries it, else after a backoff.
   */
  readonly retryable: boolean;
  /** For a refused connection: see {@link ReconnectAdvice}. */
  readonly reconnect: ReconnectAdvice;
}

/**
 * Every error code a client can receive, in an ack, a `connect_error`, a `system:error` or an
 * HTTP error body, with what it means. Everything else about the codes derives from this table:
 * adding a code is adding a row here (and to docs/protocol.md §7).
 */
const CATALOGUE = {
  AUTH_REQUIRED: { message: 'A token is required', httpStatus: 401, retryable: false, reconnect: 'stop' },
  AUTH_INVALID: { message: 'The token is invalid', httpStatus: 401, retryable: false, reconnect: 'stop' },
  AUTH_EXPIRED: { message: 'The token has expired', httpStatus: 401, retryable: false, reconnect: 'renew' },
  TENANT_MISMATCH: { message: 'The tenant does not match the token', httpStatus: 403, retryable: false, reconnect: 'stop' },
  FORBIDDEN: { message: 'Not allowed', httpStatus: 403, retryable: false, reconnect: 'stop' },
  INVALID_ROOM: { message: 'Invalid room name', httpStatus: 400, retryable: false, reconnect: 'stop' },
  NOT_IN_ROOM: { message: 'Join the room first', httpStatus: 409, retryable: false, reconnect: 'stop' },
  INVALID_PAYLOAD: { message: 'Invalid payload', httpStatus: 400, retryable: false, reconnect: 'stop' },
  PAYLOAD_TOO_LARGE: { message: 'Payload too large', httpStatus: 413, retryable: false, reconnect: 'stop' },
  RATE_LIMITED: { message: 'Rate limit exceeded', httpStatus: 429, retryable: true, reconnect: 'retry' },
  ROOM_LIMIT: { message: 'Too many rooms for this connection', httpStatus: 409, retryable: false, reconnect: 'stop' },
  CONNECTION_LIMIT: { message: 'Too many connections', httpStatus: 429, retryable: true, reconnect: 'retry' },
  SHUTTING_DOWN: { message: 'The server is shutting down', httpStatus: 503, retryable: true, reconnect: 'retry' },
  // The instance is saturated (its event loop lags): a handshake later, or to another instance, can succeed.
  OVERLOADED: { message: 'The server is overloaded: retry later', httpStatus: 503, retryable: true, reconnect: 'retry' },
  // Also what an unreachable Redis yields: the request can succeed once it is back.
  INTERNAL: { message: 'Internal error', httpStatus: 500, retryable: true, reconnect: 'retry' },
  NOT_FOUND: { message: 'Not found', httpStatus: 404, retryable: false, reconnect: 'stop' },
  METHOD_NOT_ALLOWED: { message: 'Method not allowed', httpStatus: 405, retryable: false, reconnect: 'stop' },
  // Issued before the user's tokens were revoked: a token issued since then is accepted.
  TOKEN_REVOKED: { message: 'The token has been revoked', httpStatus: 401, retryable: false, reconnect: 'renew' },
  // The application's authorization backend did not answer in time (or answered nonsense): it may later.
  BACKEND_UNAVAILABLE: { message: 'The authorization backend is unavailable', httpStatus: 503, retryable: true, reconnect: 'retry' },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof CATALOGUE;

/** Looked up through a Map: a code read off the wire may be any string, `constructor` or `__proto__` included. */
const BY_CODE: ReadonlyMap<string, ErrorInfo> = new Map(Object.entries(CATALOGUE));

/** Every error code, in catalogue order. */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze(Object.keys(CATALOGUE) as ErrorCode[]);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && BY_CODE.has(value);
}

/** The catalogue entry of a code. */
export function errorInfo(code: ErrorCode): ErrorInfo {
  return BY_CODE.get(code) as ErrorInfo;
}

/** Whether a request refused with this code can succeed if sent again unchanged; false for a code this version does not know. */
export function isRetryable(code: unknown): boolean {
  return isErrorCode(code) && errorInfo(code).retryable;
}

/** The HTTP status of an error answer with this code. */
export function httpStatusOf(code: ErrorCode): number {
  return errorInfo(code).httpStatus;
}

/**
 * What a refused connection with this code means for reconnecting; `retry` for a code this
 * version does not know (as for a failure below the protocol).
 */
export function reconnectAdvice(code: unknown): ReconnectAdvice {
  return isErrorCode(code) ? errorInfo(code).reconnect : 'retry';
}

/** Codes after which reconnecting cannot succeed without a change by the user. */
export const TERMINAL_CONNECT_ERRORS: readonly ErrorCode[] = Object.freeze(ERROR_CODES.filter((c) => errorInfo(c).reconnect === 'stop'));

export const PRESENCE_STATUSES = ['online', 'away', 'busy', 'offline'] as const;
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number];

/** Room names: 1-128 characters of `A-Z a-z 0-9 : _ . @ / -`. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9:_.@/-]{1,128}$/;
/** Tenant ids: 1-64 characters of `A-Z a-z 0-9 _ . -`. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** Client message ids (for duplicate suppression): 1-64 characters of `A-Z a-z 0-9 _ . : -`. */
export const CLIENT_MESSAGE_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

export const DEFAULT_HISTORY_LIMIT = 100;
export const MAX_HISTORY_LIMIT = 1000;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type Metadata = Record<string, unknown>;

export interface PresenceInfo {
  userId: string;
  status: PresenceStatus;
  /** Milliseconds since the epoch of the last join, status change or heartbeat of any of the user's connections. */
  lastSeen: number;
  /** How many of this user's connections are in the room. */
  connections: number;
  metadata?: Metadata;
}

export interface RoomMessage<P = unknown> {
  /**
   * Unique; within one room, ids sort (lexicographically, all ids have the same length)
   * in the order members receive the messages. Format: `<16-digit sequence>-<8-char epoch>`.
   */
  id: string;
  room: string;
  /** The sender's user id (`system` for server-side publishes without a user). */
  from: string;
  payload: P;
  /** Milliseconds since the epoch, taken when the server accepted the message. */
  timestamp: number;
  /** True for messages stored in history. */
  persistent?: boolean;
  /** The sender's client message id, when it gave one. */
  clientMessageId?: string;
}

// ---------------------------------------------------------------------------
// Client -> server payloads and acks

export interface ErrorAck {
  success: false;
  error: ErrorCode;
  /** Human-readable detail; never contains secrets or stack traces. */
  message?: string;
  /** For RATE_LIMITED: milliseconds until a retry can succeed. */
  retryAfterMs?: number;
}

export type Ack<T extends object = object> = ({ success: true } & T) | ErrorAck;

export interface JoinRequest {
  room: string;
  metadata?: Metadata;
  /** The last message id the client saw in this room: recover what came after it. */
  since?: string;
}
export type JoinAck = Ack<{
  room: string;
  /** With `since`: the stored messages after it, oldest first (at most one page). */
  messages?: RoomMessage[];
  /** With `since`: true when nothing was lost since it, false when it is older than what is retained or unknown. */
  recovered?: boolean;
  /** With `since`: more messages than one page follow; fetch them with `room:history` from the last id. */
  hasMore?: boolean;
  /**
   * Without `since`: the room's newest message id when the join began (for a room without history
   * yet, a position just before its first message). Everything after it reaches the connection
   * live; after a reconnect, rejoin with `since` = the newest of this and the ids received.
   */
  lastId?: string;
}>;

export interface LeaveRequest {
  room: string;
}
export type LeaveAck = Ack<{ room: string }>;

export interface SendRequest {
  room: string;
  payload: unknown;
  persistent?: boolean;
  /** Client-chosen id; a repeat within the duplicate window is acknowledged again but not delivered twice. */
  clientMessageId?: string;
}
export type SendAck = Ack<{ messageId: string; duplicate?: boolean }>;

/** `forward`: oldest first. `backward`: newest first. */
export type HistoryDirection = 'forward' | 'backward';
export const HISTORY_DIRECTIONS: readonly HistoryDirection[] = ['forward', 'backward'];

export interface HistoryRequest {
  room: string;
  /** Only messages after this id (or a position a join returned as `lastId`). */
  since?: string;
  /** Only messages with an id lower than this one. */
  before?: string;
  /** Page size: default 100, at most 1000. */
  limit?: number;
  /** Default `forward` (oldest first); `backward` returns the newest first. */
  direction?: HistoryDirection;
}
export type HistoryAck = Ack<{
  /** In the request's direction. */
  messages: RoomMessage[];
  /** More messages remain in the requested range beyond the last one returned (newer forward, older backward). */
  hasMore: boolean;
  recovered: boolean;
}>;

export type RoomsAck = Ack<{ rooms: string[] }>;

export interface PresenceQuery {
  room: string;
}
export type PresenceAck = Ack<{ presence: PresenceInfo[] }>;

export interface StatusRequest {
  status: PresenceStatus;
  metadata?: Metadata;
}
export type StatusAck = Ack;

export interface HeartbeatRequest {
  status?: PresenceStatus;
}
export type HeartbeatAck = Ack;

export interface RefreshRequest {
  token: string;
}
export type RefreshAck = Ack<{ expiresAt?: number }>;

// ---------------------------------------------------------------------------
// Server -> client payloads

export interface ConnectionEstablished {
  connectionId: string;
  tenantId: string;
  userId: string;
  serverId: string;
  heartbeatInterval: number;
  /** Milliseconds since the epoch when the token expires, if it does. */
  expiresAt?: number;
}
export interface RoomJoined {
  room: string;
  metadata?: Metadata;
}
/**
 * Why the server took a connection out of a room without it asking: `removed` by the application
 * (the server API). Absent after the connection's own `room:leave`.
 */
export type RoomLeftReason = 'removed';
export interface RoomLeft {
  room: string;
  reason?: RoomLeftReason;
}
export interface PresenceJoin {
  room: string;
  user: PresenceInfo;
}
export interface PresenceUpdate {
  room: string;
  presence: PresenceInfo[];
}
export interface PresenceLeave {
  room: string;
  userId: string;
}
export interface SystemRestart {
  reason: string;
  reconnectIn: number;
}
export interface SystemError {
  code: ErrorCode;
  message: string;
  /**
   * True when the server closes the connection right after this event: reconnect (or not) as
   * `reconnectAdvice(code)` says for a refused connection.
   */
  disconnect?: boolean;
}
export interface ConnectErrorData {
  code: ErrorCode;
  message: string;
  retryAfterMs?: number;
}

/** Events the server emits, for typed Socket.IO servers and clients. */
export interface ServerToClientEvents {
  'connection:established': (data: ConnectionEstablished) => void;
  'room:joined': (data: RoomJoined) => void;
  'room:left': (data: RoomLeft) => void;
  'room:message': (data: RoomMessage) => void;
  'presence:join': (data: PresenceJoin) => void;
  'presence:update': (data: PresenceUpdate) => void;
  'presence:leave': (data: PresenceLeave) => void;
  'system:restart': (data: SystemRestart) => void;
  'system:error': (data: SystemError) => void;
}

/** Events a client emits; every one takes an acknowledgement callback. */
export interface ClientToServerEvents {
  'room:join': (req: JoinRequest, ack: (res: JoinAck) => void) => void;
  'room:leave': (req: LeaveRequest, ack: (res: LeaveAck) => void) => void;
  'room:send': (req: SendRequest, ack: (res: SendAck) => void) => void;
  'room:history': (req: HistoryRequest, ack: (res: HistoryAck) => void) => void;
  'query:rooms': (ack: (res: RoomsAck) => void) => void;
  'query:presence': (req: PresenceQuery, ack: (res: PresenceAck) => void) => void;
  'presence:status': (req: StatusRequest, ack: (res: StatusAck) => void) => void;
  'presence:heartbeat': (req: HeartbeatRequest, ack: (res: HeartbeatAck) => void) => void;
  'auth:refresh': (req: RefreshRequest, ack: (res: RefreshAck) => void) => void;
}

export type ClientEventName = keyof ClientToServerEvents;
export type ServerEventName = keyof ServerToClientEvents;

export const CLIENT_EVENTS: readonly ClientEventName[] = [
  'room:join',
  'room:leave',
  'room:send',
  'room:history',
  'query:rooms',
  'query:presence',
  'presence:status',
  'presence:heartbeat',
  'auth:refresh',
];

/** Body of `POST /api/publish`. */
export interface PublishRequest {
  tenantId: string;
  room: string;
  payload: unknown;
  persistent?: boolean;
  /** Shown as the message's `from`; default `system`. */
  from?: string;
}
export interface PublishResponse {
  messageId: string;
}

/** Message ids sort lexicographically; this compares two of them. */
export function compareMessageIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
