import type { ErrorAck, ErrorCode } from '@intelgraph/websocket-protocol';

/** Default human-readable text for each code; never carries secrets or internals. */
const MESSAGES: Record<ErrorCode, string> = {
  AUTH_REQUIRED: 'A token is required',
  AUTH_INVALID: 'The token is invalid',
  AUTH_EXPIRED: 'The token has expired',
  TENANT_MISMATCH: 'The tenant does not match the token',
  FORBIDDEN: 'Not allowed',
  INVALID_ROOM: 'Invalid room name',
  NOT_IN_ROOM: 'Join the room first',
  INVALID_PAYLOAD: 'Invalid payload',
  PAYLOAD_TOO_LARGE: 'Payload too large',
  RATE_LIMITED: 'Rate limit exceeded',
  ROOM_LIMIT: 'Too many rooms for this connection',
  CONNECTION_LIMIT: 'Too many connections',
  SHUTTING_DOWN: 'The server is shutting down',
  INTERNAL: 'Internal error',
};

/** An error with a protocol code, safe to show to the client. */
export class CodedError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = MESSAGES[code],
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'CodedError';
  }

  toAck(): ErrorAck {
    const ack: ErrorAck = { success: false, error: this.code, message: this.message };
    if (this.retryAfterMs !== undefined) ack.retryAfterMs = this.retryAfterMs;
    return ack;
  }

  toData(): { code: ErrorCode; message: string; retryAfterMs?: number } {
    return { code: this.code, message: this.message, ...(this.retryAfterMs !== undefined && { retryAfterMs: this.retryAfterMs }) };
  }
}

export function defaultMessage(code: ErrorCode): string {
  return MESSAGES[code];
}

/** Whether a failure comes from a dependency being unreachable (Redis down or reconnecting). */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (
    code === 'REDIS_UNAVAILABLE' ||
    code === 'ECONNREFUSED' ||
    err.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|ClusterAllFailedError|Failed to refresh slots cache|timed out/i.test(err.message)
  );
}

/** A failure caused by an unreachable dependency: the request can succeed later. */
export class UnavailableError extends CodedError {
  constructor() {
    super('INTERNAL', 'A storage dependency is unavailable: retry later');
  }
}

/** Any thrown value as a coded error: unknown failures become INTERNAL without detail. */
export function toCoded(err: unknown): CodedError {
  if (err instanceof CodedError) return err;
  return isUnavailable(err) ? new UnavailableError() : new CodedError('INTERNAL');
}
