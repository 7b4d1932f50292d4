export interface RateDecision {
  allowed: boolean;
  /** Milliseconds until one token is available (0 when allowed). */
  retryAfterMs: number;
}

/** One token bucket of a combined check: `rate` tokens per second, holding at most `burst`. */
export interface RateBucket {
  key: string;
  rate: number;
  burst: number;
  /** Tokens this use takes (default 1). */
  cost?: number;
}

export interface CombinedRateDecision extends RateDecision {
  /** When refused: the index of the first bucket short of tokens. */
  refusedBy?: number;
}

/** Token buckets: `rate` tokens per second, holding at most `burst`. A rate of 0 or less lets everything through. */
export interface RateLimiter {
  /**
   * Takes from every bucket or from none, in one step: allowed only when each bucket has enough
   * tokens, so a refusal by one bucket costs the others nothing. When refused, `retryAfterMs` is the
   * longest wait among the buckets short of tokens. Bucket keys are named within `group` (the
   * tenant): the buckets of one call share a group, which keeps them in one Redis Cluster slot.
   */
  consumeAll(group: string, buckets: readonly RateBucket[]): Promise<CombinedRateDecision>;
}
