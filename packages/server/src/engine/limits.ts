import type { AppendOptions, CombinedRateDecision, HistoryStore, PublishLimits, RateLimiter } from './types.js';

/** A publish refused by its rate limits: nothing was appended or delivered. */
export class RateRefusedError extends Error {
  constructor(readonly decision: CombinedRateDecision & { allowed: false }) {
    super('rate limit exceeded');
    this.name = 'RateRefusedError';
  }
}

/** Whether any bucket of `limits` limits anything (a rate of 0 or less lets everything through). */
function limitsAnything(limits: PublishLimits | undefined): limits is PublishLimits {
  return limits !== undefined && limits.buckets.some((b) => b.rate > 0);
}

/**
 * The append options for `history`: its own limits when the store takes them
 * in the same step as the append; otherwise the limits are taken from
 * `limiter` first (rejecting with `RateRefusedError`) and left out.
 */
export async function appendOptionsTakingLimits(history: Pick<HistoryStore, 'takesLimits'>, limiter: RateLimiter, opts: AppendOptions): Promise<AppendOptions> {
  const { limits, ...rest } = opts;
  if (!limitsAnything(limits)) return rest;
  if (history.takesLimits) return { ...rest, limits };
  throwIfRefused(await limiter.consumeAll(limits.group, limits.buckets));
  return rest;
}

/** Throws `RateRefusedError` for a refused decision. */
export function throwIfRefused(d: CombinedRateDecision): void {
  if (!d.allowed) throw new RateRefusedError({ ...d, allowed: false });
}
