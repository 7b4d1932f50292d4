import { WebSocketClient } from './client.js';

export { WebSocketClient };
export default WebSocketClient;

export { backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { CLIENT_ERROR_CODES, WebSocketClientError, type ClientErrorCode, type LocalErrorCode } from './errors.js';
export { RoomSequence } from './recovery.js';
export type { ConnectionState, StateChange } from './state.js';
export type { Timers, TimerHandle } from './timers.js';
export { jwtExpiresAt } from './token.js';
export type {
  ClientSocket,
  HistoryOptions,
  HistoryPage,
  JoinResult,
  RecoveryFailed,
  SocketFactory,
  SocketFactoryOptions,
  TokenRefreshed,
  Transport,
  WebSocketClientEvents,
  WebSocketClientOptions,
} from './types.js';
export type {
  ConnectionEstablished,
  ErrorCode,
  Metadata,
  PresenceInfo,
  PresenceJoin,
  PresenceLeave,
  PresenceStatus,
  PresenceUpdate,
  RoomJoined,
  RoomLeft,
  RoomMessage,
  SystemError,
  SystemRestart,
} from '@intelgraph/websocket-protocol';
