import { WebSocketClient } from './client.js';

export { WebSocketClient };
export default WebSocketClient;

export { backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export type { CallOptions } from './call.js';
export type { Unsubscribe } from './emitter.js';
export { CLIENT_ERROR_CODES, WebSocketClientError, type ClientErrorCode, type LocalErrorCode } from './errors.js';
export type { Logger } from './logger.js';
export { RoomSequence } from './recovery.js';
export { Room, type MessageIteratorOptions } from './room.js';
export {
  CONNECTION_LOSS_REASONS,
  CONNECTION_STATES,
  type ConnectionLossReason,
  type ConnectionState,
  type StateChange,
  type StateChangeReason,
} from './state.js';
export type { Timers, TimerHandle } from './timers.js';
export { jwtExpiresAt } from './token.js';
export type {
  ClientSocket,
  HistoryOptions,
  HistoryPage,
  JoinResult,
  RecoveryFailed,
  RoomEvents,
  RoomLeaving,
  RoomLeftReason,
  SendOptions,
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
  HistoryDirection,
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
