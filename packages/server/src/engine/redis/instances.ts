import type { InstanceRecord, InstanceRegistry } from '../types.js';
import { RedisOps, type ObserveLatency, type RedisClient } from './connection.js';
import { KeySpace } from './keys.js';

export interface RedisInstanceRegistryOptions {
  client: RedisClient;
  keys?: KeySpace;
  observe?: ObserveLatency;
  commandTimeoutMs?: number;
}

/**
 * The live instances: each record is a key of its own with the record's time to live, and a sorted
 * set of instance ids scored by when their record expires lists them (pruned by every publish, so it
 * holds the instances of the last time to live only). Single-key commands: any slot layout works.
 */
export class RedisInstanceRegistry implements InstanceRegistry {
  private readonly ops: RedisOps;
  private readonly client: RedisClient;
  private readonly keys: KeySpace;

  constructor(opts: RedisInstanceRegistryOptions) {
    this.client = opts.client;
    this.ops = new RedisOps(opts.client, opts.observe, opts.commandTimeoutMs);
    this.keys = opts.keys ?? new KeySpace();
  }

  publish(record: InstanceRecord, ttlMs: number): Promise<void> {
    return this.ops.run('instances.publish', async () => {
      const index = this.keys.instances();
      const expiresAt = record.updatedAt + ttlMs;
      await Promise.all([
        this.client.set(this.keys.instance(record.serverId), JSON.stringify(record), 'PX', ttlMs),
        this.client.zadd(index, expiresAt, record.serverId),
        this.client.zremrangebyscore(index, '-inf', record.updatedAt),
        this.client.pexpire(index, ttlMs),
      ]);
    });
  }

  instances(now: number): Promise<InstanceRecord[]> {
    return this.ops.run('instances.list', async () => {
      const ids = await this.client.zrangebyscore(this.keys.instances(), `(${now}`, '+inf');
      const records = await Promise.all(ids.sort().map((id) => this.client.get(this.keys.instance(id))));
      return records.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as InstanceRecord);
    });
  }
}
