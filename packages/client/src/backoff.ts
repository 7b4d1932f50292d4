export interface BackoffOptions {
  /** Ceiling of the first delay, in milliseconds. Default 500. */
  minDelayMs: number;
  /** Largest delay, in milliseconds. Default 30000. */
  maxDelayMs: number;
  /** Growth of the ceiling per attempt. Default 2. */
  factor: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ minDelayMs: 500, maxDelayMs: 30_000, factor: 2 });

/**
 * Resending a message the server refused with a retryable code and no `retryAfterMs` (INTERNAL):
 * `retries` waits with ceilings 0.5, 1, 2, 4, 8, 8, 8, 8 s, about 20 s in all on average (at most 40 s),
 * before the message is rejected with the code.
 */
export const SEND_RETRY: Readonly<BackoffOptions & { retries: number }> = Object.freeze({ minDelayMs: 500, maxDelayMs: 8000, factor: 2, retries: 8 });

/**
 * Full-jitter exponential backoff: a random delay in [0, min(max, min * factor^attempt)].
 * `attempt` counts failed attempts since the last success, from 0.
 */
export function backoff(attempt: number, minDelayMs: number, maxDelayMs: number, factor = 2, random: () => number = Math.random): number {
  const step = Math.max(0, Math.floor(attempt));
  const ceiling = Math.min(maxDelayMs, minDelayMs * Math.pow(factor, step));
  if (!(ceiling > 0)) return 0;
  return Math.round(random() * ceiling);
}
