import type { Config } from '../config.js';
import type { RateLimiter } from '../engine/types.js';
import { CodedError } from '../errors.js';
import type { Metrics } from '../metrics.js';

/** The group of the API keys' buckets in the shared rate limiter (the `_` keeps it apart from tenants' own bucket keys). */
const API_GROUP = '_api';

/**
 * Server API calls per key (API_RATE_LIMIT_PER_SECOND / _BURST), one bucket per key shared by every
 * instance: a key is limited the same whichever instance it calls.
 */
export function createApiLimits(deps: { config: Readonly<Config>; rateLimiter: RateLimiter; metrics: Metrics }) {
  const { rate, burst } = deps.config.api.rate;
  return {
    /** Takes one call from the key's bucket; RATE_LIMITED (with retryAfterMs) when it is empty. */
    async takeCall(keyId: string): Promise<void> {
      if (rate <= 0) return;
      const d = await deps.rateLimiter.consumeAll(API_GROUP, [{ key: `k:${keyId}`, rate, burst }]);
      if (d.allowed) return;
      deps.metrics.rateLimited.inc({ scope: 'api_key' });
      throw new CodedError('RATE_LIMITED', 'Too many API calls with this key', d.retryAfterMs);
    },
  };
}

export type ApiLimits = ReturnType<typeof createApiLimits>;
