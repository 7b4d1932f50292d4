import type { CounterStore } from '../types.js';
import { RedisOps, type ObserveLatency, type RedisClient } from './connection.js';
import { defineScript, type ScriptCall } from './scripts.js';
import { KeySpace } from './keys.js';

export interface RedisCounterOptions {
  client: RedisClient;
  /** A member not touched for this long no longer counts (default 120000 ms). */
  staleMs?: number;
  keys?: KeySpace;
  observe?: ObserveLatency;
  /** An operation Redis has not answered within this time fails with `REDIS_UNAVAILABLE` (default 5000 ms). */
  commandTimeoutMs?: number;
}

/**
 * Held-resource counters (connections per user) shared by every instance: members in a sorted set
 * scored by their last touch (lua/counter-acquire.lua). A member whose instance died without releasing
 * it stops being touched and, after `staleMs`, no longer counts.
 */
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
    this.script = defineScript(opts.client, 'counter-acquire.lua', 1);
    this.touchScript = defineScript(opts.client, 'counter-touch.lua', 1);
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
