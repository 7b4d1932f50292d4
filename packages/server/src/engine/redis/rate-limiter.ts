import type { CombinedRateDecision, RateBucket, RateLimiter } from '../types.js';
import { RedisOps, type ObserveLatency, type RedisClient } from './connection.js';
import { defineScript, type ScriptCall } from './scripts.js';
import { KeySpace } from './keys.js';

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
 * Token buckets shared by every instance using the same Redis (lua/lib/consume.lua). A combined
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
    for (let n = 1; n <= MAX_BUCKETS; n++) this.scripts[n] = defineScript(opts.client, 'rate-consume.lua', n);
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
