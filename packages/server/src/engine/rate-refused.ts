import type { CombinedRateDecision } from './types.js';

/** A publish refused by its rate limits: nothing was appended or delivered. */
export class RateRefusedError extends Error {
  constructor(readonly decision: CombinedRateDecision & { allowed: false }) {
    super('rate limit exceeded');
    this.name = 'RateRefusedError';
  }
}

/** Throws `RateRefusedError` for a refused decision. */
export function throwIfRefused(d: CombinedRateDecision): void {
  if (!d.allowed) throw new RateRefusedError({ ...d, allowed: false });
}
