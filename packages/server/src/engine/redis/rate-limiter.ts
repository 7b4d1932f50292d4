import type { RateDecision, RateLimiter } from '../types.js';
import { defineScript, RedisOps, type ObserveLatency, type RedisClient, type ScriptCall } from './connection.js';
import { KeySpace } from './keys.js';

/**
 * A token bucket in a hash {tokens, at}, refilled and consumed in one step.
 * The time is Redis's (TIME), so instances with skewed clocks share one bucket
 * fairly. The key expires once the bucket would be full again: a missing
 * bucket is a full one.
 *
 * KEYS: 1 bucket. ARGV: 1 rate (tokens/s), 2 burst, 3 cost.
 * Returns {allowed 1|0, retryAfterMs}.
 */
const CONSUME_LUA = `
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local capacity = math.max(burst, cost)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
if tokens == nil then
  tokens = capacity
else
  tokens = math.min(capacity, tokens + math.max(0, now - tonumber(state[2])) * rate / 1000)
end
local allowed, retry = 0, 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.3f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) * 1000 / rate) + 1000)
return {allowed, retry}
`;

export interface RedisRateLimiterOptions {
  client: RedisClient;
  keys?: KeySpace;
  observe?: ObserveLatency;
}

/** Token buckets shared by every instance using the same Redis. */
export class RedisRateLimiter implements RateLimiter {
  private readonly ops: RedisOps;
  private readonly keys: KeySpace;
  private readonly script: ScriptCall;

  constructor(opts: RedisRateLimiterOptions) {
    this.ops = new RedisOps(opts.client, opts.observe);
    this.keys = opts.keys ?? new KeySpace();
    this.script = defineScript(opts.client, 'igRateConsume', 1, CONSUME_LUA);
  }

  async consume(key: string, rate: number, burst: number, cost = 1): Promise<RateDecision> {
    if (rate <= 0) return { allowed: true, retryAfterMs: 0 };
    return this.ops.run('rate.consume', async () => {
      const [allowed, retryAfterMs] = (await this.script(this.keys.rateBucket(key), rate, burst, cost)) as [number, number];
      return { allowed: allowed === 1, retryAfterMs };
    });
  }
}
