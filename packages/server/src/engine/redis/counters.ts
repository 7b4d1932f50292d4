import type { CounterStore } from '../types.js';
import { defineScript, RedisOps, type ObserveLatency, type RedisClient, type ScriptCall } from './connection.js';
import { KeySpace } from './keys.js';

/**
 * Members of a counter in a sorted set scored by their last touch. A member
 * whose instance died without releasing it stops being touched and, after
 * `staleMs`, is removed by the next `acquire` instead of counting.
 *
 * KEYS: 1 set. ARGV: 1 member, 2 max (0 = no limit), 3 now, 4 staleMs.
 * Returns 1 when held, 0 when refused.
 */
const ACQUIRE_LUA = `
local member, max, now, stale = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now - stale))
if redis.call('ZSCORE', KEYS[1], member) == false then
  if max > 0 and redis.call('ZCARD', KEYS[1]) >= max then return 0 end
end
redis.call('ZADD', KEYS[1], ARGV[3], member)
redis.call('PEXPIRE', KEYS[1], 2 * stale)
return 1
`;

/**
 * Refreshes a member still held, and its set's expiry; a released member stays released.
 * KEYS: 1 set. ARGV: 1 member, 2 now, 3 ttlMs. Returns 1 when refreshed, 0 when not held.
 */
const TOUCH_LUA = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

export interface RedisCounterOptions {
  client: RedisClient;
  /** A member not touched for this long no longer counts (default 120000 ms). */
  staleMs?: number;
  keys?: KeySpace;
  observe?: ObserveLatency;
  /** An operation Redis has not answered within this time fails with `REDIS_UNAVAILABLE` (default 5000 ms). */
  commandTimeoutMs?: number;
}

/** Held-resource counters (connections per user) shared by every instance. */
export class RedisCounterStore implements CounterStore {
  private readonly ops: RedisOps;
  private readonly client: RedisClient;
  private readonly keys: KeySpace;
  private readonly staleMs: number;
  private readonly script: ScriptCall;
  private readonly touchScript: ScriptCall;

  constructor(opts: RedisCounterOptions) {
    this.client = opts.client;
    this.ops = new RedisOps(opts.client, opts.observe, opts.commandTimeoutMs);
    this.keys = opts.keys ?? new KeySpace();
    this.staleMs = opts.staleMs ?? 120_000;
    this.script = defineScript(opts.client, 'igCounterAcquire', 1, ACQUIRE_LUA);
    this.touchScript = defineScript(opts.client, 'igCounterTouch', 1, TOUCH_LUA);
  }

  acquire(key: string, member: string, max: number, now: number): Promise<boolean> {
    return this.ops.run('counter.acquire', async () => {
      return (await this.script(this.keys.counter(key), member, Math.max(0, max), now, this.staleMs)) === 1;
    });
  }

  release(key: string, member: string): Promise<void> {
    return this.ops.run('counter.release', async () => {
      await this.client.zrem(this.keys.counter(key), member);
    });
  }

  touch(members: { key: string; member: string }[], now: number): Promise<void> {
    return this.ops.run('counter.touch', async () => {
      await Promise.all(members.map(({ key, member }) => this.touchScript(this.keys.counter(key), member, now, 2 * this.staleMs)));
    });
  }
}
