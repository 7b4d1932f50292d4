import type { RevocationStore } from '../types.js';
import { RedisOps, type ObserveLatency, type RedisClient } from './connection.js';
import { KeySpace } from './keys.js';
import { defineScript, type ScriptCall } from './scripts.js';

export interface RedisRevocationOptions {
  client: RedisClient;
  keys?: KeySpace;
  observe?: ObserveLatency;
  commandTimeoutMs?: number;
}

/** Revocations shared by every instance: one key per user, expiring with the revocation (lua/revoke.lua). */
export class RedisRevocationStore implements RevocationStore {
  private readonly ops: RedisOps;
  private readonly keys: KeySpace;
  private readonly script: ScriptCall;

  constructor(private readonly opts: RedisRevocationOptions) {
    this.ops = new RedisOps(opts.client, opts.observe, opts.commandTimeoutMs);
    this.keys = opts.keys ?? new KeySpace();
    this.script = defineScript(opts.client, 'revoke.lua', 1);
  }

  revoke(tenantId: string, userId: string, before: number, until: number): Promise<number> {
    return this.ops.run('revocation.revoke', async () => Number(await this.script(this.keys.revocation(tenantId, userId), Math.floor(before), Math.ceil(until))));
  }

  revokedBefore(tenantId: string, userId: string): Promise<number | undefined> {
    return this.ops.run('revocation.get', async () => {
      const v = await this.opts.client.get(this.keys.revocation(tenantId, userId));
      return v === null ? undefined : Number(v);
    });
  }
}
