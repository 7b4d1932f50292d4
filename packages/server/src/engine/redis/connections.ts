import { DEFAULT_CONNECTION_STALE_MS } from '../memory/connections.js';
import type { Acquired, ConnectionRecord, ConnectionRegistry, Released, ServerReleased } from '../types.js';
import { RedisOps, type ObserveLatency, type RedisClient } from './connection.js';
import { KeySpace } from './keys.js';
import { defineScript, type ScriptArg, type ScriptCall } from './scripts.js';

export interface RedisConnectionRegistryOptions {
  client: RedisClient;
  /** A record not refreshed for this long no longer counts (default 120000 ms). */
  staleMs?: number;
  keys?: KeySpace;
  observe?: ObserveLatency;
  /** An operation Redis has not answered within this time fails with `REDIS_UNAVAILABLE` (default 5000 ms). */
  commandTimeoutMs?: number;
}

type User = Pick<ConnectionRecord, 'tenantId' | 'userId'>;

/** What the hash keeps of a record: the rest is in the key and the field. */
const stored = (r: ConnectionRecord): string => JSON.stringify({ serverId: r.serverId, connectedAt: r.connectedAt });

/**
 * The connection registry shared by every instance: per user, a sorted set of connection ids scored
 * by their last refresh and a hash of their records, both in the user's slot, changed by one script
 * each time (lua/registry-*.lua). Nothing is counted apart from the records: a count is the number of
 * live records, so it cannot drift, and the owners' `touch` re-creates whatever Redis lost.
 */
export class RedisConnectionRegistry implements ConnectionRegistry {
  private readonly ops: RedisOps;
  private readonly keys: KeySpace;
  private readonly staleMs: number;
  private readonly scripts: Record<'acquire' | 'release' | 'touch' | 'list' | 'releaseServer', ScriptCall>;
  /** Several users' touch in one call: on a single Redis only (their keys are in different Cluster slots). */
  private readonly touchMany: ScriptCall | undefined;

  constructor(opts: RedisConnectionRegistryOptions) {
    this.ops = new RedisOps(opts.client, opts.observe, opts.commandTimeoutMs);
    this.keys = opts.keys ?? new KeySpace();
    this.staleMs = opts.staleMs ?? DEFAULT_CONNECTION_STALE_MS;
    const c = opts.client;
    this.scripts = {
      acquire: defineScript(c, 'registry-acquire.lua', 2),
      release: defineScript(c, 'registry-release.lua', 2),
      touch: defineScript(c, 'registry-touch.lua', 2),
      list: defineScript(c, 'registry-list.lua', 2),
      releaseServer: defineScript(c, 'registry-release-server.lua', 2),
    };
    this.touchMany = c.isCluster ? undefined : defineScript(c, 'registry-touch-many.lua', 'variable');
  }

  /** Runs a registry script on the user's keys; ARGV starts with now and the stale time. */
  private run(script: keyof RedisConnectionRegistry['scripts'], user: User, now: number, ...args: ScriptArg[]): Promise<unknown> {
    return this.scripts[script](this.keys.userConnections(user.tenantId, user.userId), this.keys.userRecords(user.tenantId, user.userId), now, this.staleMs, ...args);
  }

  acquire(record: ConnectionRecord, max: number, now: number): Promise<Acquired> {
    return this.ops.run('connections.acquire', async () => {
      const [held, first] = (await this.run('acquire', record, now, record.connectionId, stored(record), Math.max(0, max))) as [number, number];
      return { held: held === 1, first: first === 1 };
    });
  }

  release(record: Pick<ConnectionRecord, 'tenantId' | 'userId' | 'connectionId'>, now: number): Promise<Released> {
    return this.ops.run('connections.release', async () => ({ last: (await this.run('release', record, now, record.connectionId)) === 1 }));
  }

  touch(records: readonly ConnectionRecord[], now: number): Promise<void> {
    return this.ops.run('connections.touch', async () => {
      // One script per user: a user's keys share a slot, different users' keys need not.
      const byUser = new Map<string, { user: User; args: string[] }>();
      for (const r of records) {
        const id = JSON.stringify([r.tenantId, r.userId]);
        let group = byUser.get(id);
        if (!group) byUser.set(id, (group = { user: r, args: [] }));
        group.args.push(r.connectionId, stored(r));
      }
      const groups = [...byUser.values()];
      if (this.touchMany && groups.length > 1) {
        // One call for the batch (the owners' upsert sends up to 500 connections at a time) instead of one per user.
        const keys: string[] = [];
        const args: ScriptArg[] = [now, this.staleMs];
        for (const { user, args: pairs } of groups) {
          keys.push(this.keys.userConnections(user.tenantId, user.userId), this.keys.userRecords(user.tenantId, user.userId));
          args.push(pairs.length / 2, ...pairs);
        }
        await this.touchMany(keys.length, ...keys, ...args);
        return;
      }
      await Promise.all(groups.map(({ user, args }) => this.run('touch', user, now, ...args)));
    });
  }

  list(tenantId: string, userId: string, now: number): Promise<ConnectionRecord[]> {
    return this.ops.run('connections.list', async () => {
      const flat = (await this.run('list', { tenantId, userId }, now)) as string[];
      const out: ConnectionRecord[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        const { serverId, connectedAt } = JSON.parse(flat[i + 1] as string) as { serverId: string; connectedAt: number };
        out.push({ tenantId, userId, connectionId: flat[i] as string, serverId, connectedAt });
      }
      return out.sort((a, b) => a.connectedAt - b.connectedAt);
    });
  }

  releaseServer(tenantId: string, userId: string, serverId: string, now: number): Promise<ServerReleased> {
    return this.ops.run('connections.releaseServer', async () => {
      const [removed, last] = (await this.run('releaseServer', { tenantId, userId }, now, serverId)) as [number, number];
      return { removed, last: last === 1 };
    });
  }
}
