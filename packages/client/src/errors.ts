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
 * - `ORIGIN_NOT_ALLOWED`: the server refused the page's origin (terminal: its `CORS_ORIGIN` must list it).
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
  'ORIGIN_NOT_ALLOWED',
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

/** Where a connection attempt went: what an origin probe needs to ask the same server the same way. */
export interface AttemptTarget {
  url: string;
  path?: string | undefined;
  /** The attempt's extra headers: outside browsers, an `origin` among them is sent with the probe too. */
  extraHeaders?: Record<string, string> | undefined;
}

function originHeader(target: AttemptTarget): string | undefined {
  return Object.entries(target.extraHeaders ?? {}).find(([k]) => k.toLowerCase() === 'origin')?.[1];
}

/** Engine.IO's answer to a request from an origin the server does not allow. */
function isOriginRefusal(status: unknown, body: unknown): boolean {
  if (status !== 403 || typeof body !== 'string') return false;
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown } | null;
    return parsed?.code === 4 && parsed.message === 'Origin not allowed';
  } catch {
    return false;
  }
}

/**
 * What a socket.io-client transport error says of the HTTP status: a number for long-polling,
 * ws's "Unexpected server response: 403" in Node, 0 for a failure without a response (no server,
 * network, a Node WebSocket error other than a status), or undefined when it does not say (a
 * browser's WebSocket error never does).
 */
function transportStatus(err: { description?: unknown }): number | undefined {
  const d = err.description;
  if (typeof d === 'number') return d;
  const message = (d as { message?: unknown } | null | undefined)?.message;
  if (typeof message !== 'string') return undefined;
  const m = /server response: (\d{3})/.exec(message);
  return m ? Number(m[1]) : 0;
}

/** The polling URL of the attempt, with a session id no server has: asking it creates no session. */
function probeUrl(target: AttemptTarget): string {
  const base = new URL(target.url.replace(/^ws(s?):/i, 'http$1:'));
  const url = new URL(`${(target.path ?? '/socket.io').replace(/\/?$/, '/')}`, base.origin);
  url.search = 'EIO=4&transport=polling&sid=origin-probe';
  return url.href;
}

/**
 * Whether the server refuses this client's origin. Browsers hide why a WebSocket upgrade failed, so
 * the SDK asks the polling endpoint, whose refusal a page can read (the server lets it).
 */
async function probeOrigin(target: AttemptTarget): Promise<boolean> {
  if (typeof fetch !== 'function') return false;
  const origin = originHeader(target);
  try {
    const res = await fetch(probeUrl(target), {
      credentials: 'omit',
      ...(origin !== undefined && { headers: { origin } }),
      ...(typeof AbortSignal !== 'undefined' && typeof AbortSignal.timeout === 'function' && { signal: AbortSignal.timeout(5000) }),
    });
    return isOriginRefusal(res.status, await res.text());
  } catch {
    return false;
  }
}

/** The error for a refused origin, naming it when known. */
function originError(target: AttemptTarget): WebSocketClientError {
  const page = (globalThis as { location?: { origin?: unknown } }).location?.origin;
  const origin = typeof page === 'string' ? page : originHeader(target);
  const which = origin !== undefined ? `this origin (${origin})` : 'this origin';
  return new WebSocketClientError('ORIGIN_NOT_ALLOWED', `The server does not allow ${which}: add it to the server's CORS_ORIGIN`);
}

/**
 * {@link connectError}, except that a transport error the server's origin refusal caused becomes
 * `ORIGIN_NOT_ALLOWED`: told by a long-polling refusal itself, else (a WebSocket error that does not
 * say why, or a 403 without a readable body) by probing the server.
 */
export async function classifyConnectError(err: unknown, target: AttemptTarget): Promise<WebSocketClientError> {
  const error = connectError(err);
  const e = err as { type?: unknown; description?: unknown; context?: { responseText?: unknown } } | undefined;
  if (error.code !== 'TRANSPORT_ERROR' || e?.type !== 'TransportError') return error;
  const status = transportStatus(e);
  if (status !== undefined && status !== 403) return error;
  let body: unknown;
  try {
    body = e.context?.responseText;
  } catch {
    // An XMLHttpRequest whose responseType hides the text.
  }
  if (isOriginRefusal(status, body) || (await probeOrigin(target))) return originError(target);
  return error;
}
