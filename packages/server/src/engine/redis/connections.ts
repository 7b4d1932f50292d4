import { isRevoked } from '../../auth/revocation.js';
import { DEFAULT_CONNECTION_STALE_MS } from '../memory/connections.js';
import type { Acquired, ConnectionRecord, ConnectionRegistry, Released, ServerReleased, TokenCheck } from '../types.js';
import { RedisOps, type ObserveLatency, type RedisClient } from './connection.js';
import { KeySpace } from './keys.js';
import { defineScript, type ScriptArg, type ScriptCall } from './scripts.js';
import { TurnBatch } from './turn-batch.js';

export interface RedisConnectionRegistryOptions {
  client: RedisClient;
  /** A record not refreshed for this long no longer counts (default 120000 ms). */
  staleMs?: number;
  keys?: KeySpace;
  observe?: ObserveLatency;
  /** An operation Redis has not answered within this time fails with `REDIS_UNAVAILABLE` (default 5000 ms). */
  commandTimeoutMs?: number;
  /** At most this many acquires (or releases) of one event-loop turn in one script call, on a single Redis (default 64). */
  maxBatch?: number;
}

type User = Pick<ConnectionRecord, 'tenantId' | 'userId'>;

/** What the hash keeps of a record: the rest is in the key and the field. */
const stored = (r: ConnectionRecord): string => JSON.stringify({ serverId: r.serverId, connectedAt: r.connectedAt });

/** The scripts used on a single Redis only. */
interface SingleRedisScripts {
  /** registry-acquire.lua with the revocation key. */
  acquireChecked: ScriptCall;
  acquireMany: ScriptCall;
  releaseMany: ScriptCall;
}

interface AcquireCall {
  record: ConnectionRecord;
  max: number;
  now: number;
  token: TokenCheck | undefined;
}

interface ReleaseCall {
  record: Pick<ConnectionRecord, 'tenantId' | 'userId' | 'connectionId'>;
  now: number;
}

/** The issued-at check as lib/acquire.lua reads it: '-' none, '' a token without issued-at, else the time (ms). */
const issuedAtArg = (token: TokenCheck | undefined): string => (token === undefined ? '-' : token.issuedAt === undefined ? '' : String(token.issuedAt));

/** A script's {held, first, revoked} as the contract answers it. */
const acquired = (held: unknown, first: unknown, revoked: unknown): Acquired =>
  revoked === 1 ? { held: false, first: false, revoked: true } : { held: held === 1, first: first === 1 };

/**
 * The connection registry shared by every instance: per user, a sorted set of connection ids scored
 * by their last refresh and a hash of their records, both in the user's slot, changed by one script
 * each time (lua/registry-*.lua). Nothing is counted apart from the records: a count is the number of
 * live records, so it cannot drift, and the owners' `touch` re-creates whatever Redis lost.
 *
 * On a single Redis the acquires of one event-loop turn (a reconnect storm) go in one script call
 * (registry-acquire-many.lua), which also reads each user's revocation key, and the releases likewise
 * (registry-release-many.lua): one call's overhead instead of one per connection. On a Cluster each
 * user's keys are in their own slot: one call per connection, the revocation key read beside it.
 */
export class RedisConnectionRegistry implements ConnectionRegistry {
  private readonly ops: RedisOps;
  private readonly keys: KeySpace;
  private readonly staleMs: number;
  private readonly scripts: Record<'acquire' | 'release' | 'touch' | 'list' | 'releaseServer', ScriptCall>;
  /** Several users' touch in one call: on a single Redis only (their keys are in different Cluster slots). */
  private readonly touchMany: ScriptCall | undefined;
  /** On a single Redis only, like touchMany: one turn's acquires and releases, each in one call. */
  private readonly batches: { acquire: TurnBatch<AcquireCall, Acquired>; release: TurnBatch<ReleaseCall, Released> } | undefined;
  private readonly single: SingleRedisScripts | undefined;

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
    if (!c.isCluster) {
      this.single = {
        acquireChecked: defineScript(c, 'registry-acquire.lua', 3),
        acquireMany: defineScript(c, 'registry-acquire-many.lua', 'variable'),
        releaseMany: defineScript(c, 'registry-release-many.lua', 'variable'),
      };
      const max = opts.maxBatch ?? 64;
      this.batches = {
        acquire: new TurnBatch((calls) => this.acquireBatch(calls), max),
        release: new TurnBatch((calls) => this.releaseBatch(calls), max),
      };
    }
  }

  /** Runs a registry script on the user's keys; ARGV starts with now and the stale time. */
  private run(script: keyof RedisConnectionRegistry['scripts'], user: User, now: number, ...args: ScriptArg[]): Promise<unknown> {
    return this.scripts[script](this.keys.userConnections(user.tenantId, user.userId), this.keys.userRecords(user.tenantId, user.userId), now, this.staleMs, ...args);
  }

  acquire(record: ConnectionRecord, max: number, now: number, token?: TokenCheck): Promise<Acquired> {
    const call: AcquireCall = { record, max: Math.max(0, max), now, token };
    return this.ops.run('connections.acquire', () => (this.batches ? this.batches.acquire.add(call) : this.acquireApart(call)));
  }

  release(record: Pick<ConnectionRecord, 'tenantId' | 'userId' | 'connectionId'>, now: number): Promise<Released> {
    const call: ReleaseCall = { record, now };
    return this.ops.run('connections.release', () => (this.batches ? this.batches.release.add(call) : this.releaseOne(call)));
  }

  /** One turn's acquires on a single Redis: one script call (the revocation read inside it). */
  private async acquireBatch(calls: readonly AcquireCall[]): Promise<Acquired[]> {
    const single = this.single as SingleRedisScripts;
    const [only] = calls;
    if (calls.length === 1 && only) {
      const { record: r, max, now, token } = only;
      const [held, first, revoked] = (
        token
          ? await single.acquireChecked(
              this.keys.userConnections(r.tenantId, r.userId),
              this.keys.userRecords(r.tenantId, r.userId),
              this.keys.revocation(r.tenantId, r.userId),
              now,
              this.staleMs,
              r.connectionId,
              stored(r),
              max,
              issuedAtArg(token),
            )
          : await this.run('acquire', r, now, r.connectionId, stored(r), max)
      ) as number[];
      return [acquired(held, first, revoked)];
    }
    const keys: string[] = [];
    const args: ScriptArg[] = [calls[0]?.now ?? 0, this.staleMs];
    for (const { record: r, max, now, token } of calls) {
      keys.push(this.keys.userConnections(r.tenantId, r.userId), this.keys.userRecords(r.tenantId, r.userId), this.keys.revocation(r.tenantId, r.userId));
      args.push(now, r.connectionId, stored(r), max, issuedAtArg(token));
    }
    const flat = (await single.acquireMany(keys.length, ...keys, ...args)) as number[];
    return calls.map((_, i) => acquired(flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]));
  }

  /**
   * One acquire on a Cluster: the user's revocation key is in another slot than its registry, so it is
   * read beside the script; a revoked token registered meanwhile is released before the answer.
   */
  private async acquireApart({ record: r, max, now, token }: AcquireCall): Promise<Acquired> {
    const [[held, first], before] = await Promise.all([
      this.run('acquire', r, now, r.connectionId, stored(r), max) as Promise<[number, number]>,
      token ? this.ops.client.get(this.keys.revocation(r.tenantId, r.userId)) : null,
    ]);
    if (held === 1 && token && before !== null && isRevoked(token.issuedAt, Number(before))) {
      await this.run('release', r, now, r.connectionId);
      return { held: false, first: false, revoked: true };
    }
    return acquired(held, first, 0);
  }

  /** One turn's releases on a single Redis: one script call. */
  private async releaseBatch(calls: readonly ReleaseCall[]): Promise<Released[]> {
    const [only] = calls;
    if (calls.length === 1 && only) return [await this.releaseOne(only)];
    const keys: string[] = [];
    const args: ScriptArg[] = [calls[0]?.now ?? 0, this.staleMs];
    for (const { record: r, now } of calls) {
      keys.push(this.keys.userConnections(r.tenantId, r.userId), this.keys.userRecords(r.tenantId, r.userId));
      args.push(now, r.connectionId);
    }
    const single = this.single as SingleRedisScripts;
    const flat = (await single.releaseMany(keys.length, ...keys, ...args)) as number[];
    return flat.map((last) => ({ last: last === 1 }));
  }

  private async releaseOne({ record, now }: ReleaseCall): Promise<Released> {
    return { last: (await this.run('release', record, now, record.connectionId)) === 1 };
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
