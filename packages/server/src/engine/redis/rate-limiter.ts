import type { CombinedRateDecision, RateBucket, RateLimiter } from '../types.js';
import { defineScript, RedisOps, type ObserveLatency, type RedisClient, type ScriptCall } from './connection.js';
import { KeySpace } from './keys.js';

/**
 * Token buckets in hashes {tokens, at}, refilled and consumed in one step:
 * from every bucket when each has enough tokens, otherwise from none. The time
 * is Redis's (TIME), so instances with skewed clocks share one bucket fairly.
 * A key expires once its bucket would be full again: a missing bucket is a
 * full one. A refusal writes nothing (the refill is computed from `at`).
 *
 * `consume(firstKey, firstArg)` takes the buckets KEYS[firstKey..#KEYS], with
 * rate (tokens/s), burst and cost of each bucket in turn from ARGV[firstArg].
 * Returns {allowed 1|0, retryAfterMs (the longest wait), refusedBy (1-based
 * index of the first short bucket, 0 when allowed)}. The history's append
 * script runs it too, before appending (on a single Redis).
 */
export const CONSUME_FN = `
local function consume(firstKey, firstArg)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
  local tokens, caps = {}, {}
  local allowed, retry, by = 1, 0, 0
  local n = #KEYS - firstKey + 1
  for i = 1, n do
    local key, a = KEYS[firstKey + i - 1], firstArg + 3 * (i - 1)
    local rate, burst, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local capacity = math.max(burst, cost)
    local state = redis.call('HMGET', key, 'tokens', 'at')
    local tk = tonumber(state[1])
    if tk == nil then
      tk = capacity
    else
      tk = math.min(capacity, tk + math.max(0, now - tonumber(state[2])) * rate / 1000)
    end
    tokens[i], caps[i] = tk, capacity
    if tk < cost then
      if allowed == 1 then by = i end
      allowed = 0
      retry = math.max(retry, math.ceil((cost - tk) * 1000 / rate))
    end
  end
  if allowed == 1 then
    for i = 1, n do
      local key, a = KEYS[firstKey + i - 1], firstArg + 3 * (i - 1)
      local rate, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 2])
      local tk = tokens[i] - cost
      redis.call('HSET', key, 'tokens', string.format('%.6f', tk), 'at', string.format('%.3f', now))
      redis.call('PEXPIRE', key, string.format('%d', math.ceil((caps[i] - tk) * 1000 / rate) + 1000))
    end
  end
  return {allowed, retry, by}
end
`;

const CONSUME_LUA = `${CONSUME_FN}
return consume(1, 1)
`;

/** The most buckets one combined check takes. */
export const MAX_BUCKETS = 4;

/** The keys and arguments of `consume` for the buckets that limit anything (rate > 0), and their indexes in `buckets`. */
export function bucketArguments(keys: KeySpace, group: string, buckets: readonly RateBucket[]): { keys: string[]; args: number[]; index: number[] } {
  const out = { keys: [] as string[], args: [] as number[], index: [] as number[] };
  buckets.forEach((b, i) => {
    if (b.rate <= 0) return;
    out.keys.push(keys.rateBucket(group, b.key));
    out.args.push(b.rate, b.burst, b.cost ?? 1);
    out.index.push(i);
  });
  if (out.keys.length > MAX_BUCKETS) throw new Error(`at most ${MAX_BUCKETS} buckets are taken together`);
  return out;
}


export interface RedisRateLimiterOptions {
  client: RedisClient;
  keys?: KeySpace;
  observe?: ObserveLatency;
  /** An operation Redis has not answered within this time fails with `REDIS_UNAVAILABLE` (default 5000 ms). */
  commandTimeoutMs?: number;
}

/**
 * Token buckets shared by every instance using the same Redis. A combined
 * check (`consumeAll`) is one script call whatever the number of buckets; its
 * keys carry the group as hash tag, so Redis Cluster keeps them in one slot.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly ops: RedisOps;
  private readonly keys: KeySpace;
  /**
   * The script for 1 to MAX_BUCKETS keys (index = number of keys). All are
   * defined up front: ioredis' auto-pipelining copies the client's commands
   * into each pipeline, so a command defined later is missing from a pipeline
   * already open.
   */
  private readonly scripts: ScriptCall[] = [];

  constructor(opts: RedisRateLimiterOptions) {
    this.ops = new RedisOps(opts.client, opts.observe, opts.commandTimeoutMs);
    this.keys = opts.keys ?? new KeySpace();
    for (let n = 1; n <= MAX_BUCKETS; n++) this.scripts[n] = defineScript(opts.client, `igRateConsume${n}`, n, CONSUME_LUA);
  }

  async consumeAll(group: string, buckets: readonly RateBucket[]): Promise<CombinedRateDecision> {
    const { keys, args, index } = bucketArguments(this.keys, group, buckets);
    if (keys.length === 0) return { allowed: true, retryAfterMs: 0 };
    return this.ops.run('rate.consume', async () => {
      const [allowed, retryAfterMs, by] = (await (this.scripts[keys.length] as ScriptCall)(...keys, ...args)) as [number, number, number];
      return allowed === 1 ? { allowed: true, retryAfterMs: 0 } : { allowed: false, retryAfterMs, refusedBy: index[by - 1] as number };
    });
  }
}
