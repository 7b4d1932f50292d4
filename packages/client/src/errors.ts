import { isErrorCode, type ErrorCode } from '@intelgraph/websocket-protocol';

/**
 * Codes the SDK produces itself, beside the server's {@link ErrorCode}s:
 * - `QUEUE_FULL`: `sendMessage` found `queue.maxSize` messages already waiting for an acknowledgement.
 * - `NOT_CONNECTED`: a request that needs a live connection (queries, history) was made, or the connection
 *   was lost before the server answered it.
 * - `TIMEOUT`: the server did not answer a request within `ackTimeoutMs`.
 * - `CLIENT_CLOSED`: `disconnect()` was called while the request or message was pending.
 * - `TRANSPORT_ERROR`: a connection attempt failed below the protocol (network, proxy, server down).
 * - `TOKEN_ERROR`: `getToken()` threw or returned something other than a non-empty string.
 * - `ABORTED`: the call's `signal` aborted it.
 * - `RECONNECT_FAILED`: `maxReconnectAttempts` attempts in a row failed; the client is `failed`.
 * - `BUFFER_OVERFLOW`: a room's message iterator was not read fast enough and its buffer filled up.
 */
export const CLIENT_ERROR_CODES = [
  'QUEUE_FULL',
  'NOT_CONNECTED',
  'TIMEOUT',
  'CLIENT_CLOSED',
  'TRANSPORT_ERROR',
  'TOKEN_ERROR',
  'ABORTED',
  'RECONNECT_FAILED',
  'BUFFER_OVERFLOW',
] as const;
export type LocalErrorCode = (typeof CLIENT_ERROR_CODES)[number];
export type ClientErrorCode = ErrorCode | LocalErrorCode;

/** Every error the SDK rejects with or emits: an `Error` with a stable `code`. */
export class WebSocketClientError extends Error {
  override readonly name = 'WebSocketClientError';
  readonly code: ClientErrorCode;
  /** The room the error concerns, when it concerns one. */
  readonly room: string | undefined;
  /** For `RATE_LIMITED`: milliseconds until a retry can succeed, when the server said so. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ClientErrorCode, message?: string, extra: { room?: string; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message && message !== code ? `${code}: ${message}` : code, 'cause' in extra ? { cause: extra.cause } : undefined);
    this.code = code;
    this.room = extra.room;
    this.retryAfterMs = extra.retryAfterMs;
  }
}

/** The error for a failed acknowledgement `{ success: false, error, message? }`. */
export function ackError(ack: { error: ErrorCode; message?: string; retryAfterMs?: number }, room?: string): WebSocketClientError {
  const extra: { room?: string; retryAfterMs?: number } = {};
  if (room !== undefined) extra.room = room;
  if (typeof ack.retryAfterMs === 'number') extra.retryAfterMs = ack.retryAfterMs;
  return new WebSocketClientError(isErrorCode(ack.error) ? ack.error : 'INTERNAL', ack.message, extra);
}

/** Maps a Socket.IO acknowledgement failure (timeout or lost connection) to a coded error. */
export function requestError(err: unknown): WebSocketClientError {
  if (err instanceof WebSocketClientError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/timed out/i.test(message)) return new WebSocketClientError('TIMEOUT', 'The server did not answer in time');
  return new WebSocketClientError('NOT_CONNECTED', 'The connection was lost before the server answered');
}

/** Maps a Socket.IO `connect_error` to a coded error: the server's code, or `TRANSPORT_ERROR`. */
export function connectError(err: unknown): WebSocketClientError {
  const e = err as { message?: unknown; data?: { code?: unknown; message?: unknown; retryAfterMs?: unknown } } | undefined;
  const data = e?.data;
  const code = isErrorCode(data?.code) ? data.code : isErrorCode(e?.message) ? e.message : undefined;
  if (code === undefined) {
    return new WebSocketClientError('TRANSPORT_ERROR', typeof e?.message === 'string' ? e.message : 'Connection failed');
  }
  const extra: { retryAfterMs?: number } = {};
  if (typeof data?.retryAfterMs === 'number') extra.retryAfterMs = data.retryAfterMs;
  return new WebSocketClientError(code, typeof data?.message === 'string' ? data.message : undefined, extra);
}
