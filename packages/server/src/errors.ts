import { errorInfo, type ErrorAck, type ErrorCode } from '@intelgraph/websocket-protocol';

/** An error with a protocol code, safe to show to the client. */
export class CodedError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = errorInfo(code).message,
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
