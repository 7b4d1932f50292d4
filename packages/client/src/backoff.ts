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
 * Full-jitter exponential backoff: a random delay in [0, min(max, min * factor^attempt)].
 * `attempt` counts failed attempts since the last success, from 0.
 */
export function backoff(attempt: number, minDelayMs: number, maxDelayMs: number, factor = 2, random: () => number = Math.random): number {
  const step = Math.max(0, Math.floor(attempt));
  const ceiling = Math.min(maxDelayMs, minDelayMs * Math.pow(factor, step));
  if (!(ceiling > 0)) return 0;
  return Math.round(random() * ceiling);
}
