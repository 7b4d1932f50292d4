import { WebSocketClientError } from './errors.js';
import type { Timers } from './timers.js';

/** Options every call of the client accepts. */
export interface CallOptions {
  /** Aborts the call: it rejects with `ABORTED` (the signal's reason as the error's `cause`). */
  signal?: AbortSignal;
  /**
   * Milliseconds the call may take in all, waiting for the connection included; then it rejects with
   * `TIMEOUT`. For requests to the server, it replaces `ackTimeoutMs`.
   */
  timeout?: number;
}

export function abortedError(signal: AbortSignal, room?: string): WebSocketClientError {
  return new WebSocketClientError('ABORTED', 'The call was aborted', { ...(room !== undefined && { room }), cause: signal.reason });
}

function timeoutError(ms: number, room?: string): WebSocketClientError {
  return new WebSocketClientError('TIMEOUT', `No result within ${ms} ms`, room !== undefined ? { room } : {});
}

/** Throws on a `timeout` that is not a positive number and on a signal that is already aborted. */
export function checkCallOptions(options: CallOptions | undefined, room?: string): void {
  const timeout = options?.timeout;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0)) throw new TypeError('timeout must be a positive number of milliseconds');
  if (options?.signal?.aborted) throw abortedError(options.signal, room);
}

/**
 * Runs `start` under `options`: the result settles with the call's own outcome, or rejects with
 * `ABORTED` when the signal aborts or `TIMEOUT` when `timeout` passes first. In those two cases
 * `cancel(error)` runs, so that the caller can withdraw what the call left behind (a queued message,
 * a pending join); the call's own outcome is then ignored.
 */
export function underCallOptions<T>(
  timers: Timers,
  options: CallOptions | undefined,
  start: () => Promise<T>,
  cancel?: (error: WebSocketClientError) => void,
  room?: string,
): Promise<T> {
  try {
    checkCallOptions(options, room);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  const signal = options?.signal;
  const timeout = options?.timeout;
  if (signal === undefined && timeout === undefined) return start();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: unknown;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const stop = (error: WebSocketClientError): void => {
      if (!finish()) return;
      cancel?.(error);
      reject(error);
    };
    function onAbort(): void {
      stop(abortedError(signal as AbortSignal, room));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeout !== undefined) timer = timers.setTimeout(() => stop(timeoutError(timeout, room)), timeout);
    start().then(
      (value) => finish() && resolve(value),
      (error: unknown) => finish() && reject(error),
    );
  });
}
