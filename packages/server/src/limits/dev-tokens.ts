import type { IncomingMessage } from 'node:http';
import { CodedError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { addressKey, clientAddress } from './address.js';
import { LocalBuckets } from './local-buckets.js';

/** Tokens a client address may mint per second through `POST /dev/token`, and its burst. */
const RATE = 2;
const BURST = 20;

/**
 * The development token endpoint's budget per client address (this instance's memory: the endpoint
 * exists only with a secret generated for this process). A refusal is RATE_LIMITED, counted in
 * `websocket_rate_limited_total{scope="dev_token"}`.
 */
export function createDevTokenLimits(deps: { trustProxy: boolean; metrics: Pick<Metrics, 'rateLimited'> }) {
  const buckets = new LocalBuckets(10_000);
  return {
    take(req: IncomingMessage): void {
      const address = addressKey(clientAddress(req.headers, req.socket.remoteAddress, deps.trustProxy));
      const d = buckets.take(address, RATE, BURST);
      if (d.allowed) return;
      deps.metrics.rateLimited.inc({ scope: 'dev_token' });
      throw new CodedError('RATE_LIMITED', 'Too many development tokens from this address', d.retryAfterMs);
    },
  };
}
