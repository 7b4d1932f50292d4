import type { Metadata, PresenceInfo, PresenceStatus } from '@intelgraph/websocket-protocol';
import { aggregateUser, visiblyDifferent, type ConnectionEntry } from '../presence-aggregate.js';
import { parseRoomKey, roomKeyString, type PresenceChange, type PresenceConnection, type PresenceStore, type RoomKey } from '../types.js';
import { RedisOps, type ObserveLatency, type RedisClient } from './connection.js';
import { defineScript, type ScriptArg, type ScriptCall } from './scripts.js';
import { KeySpace } from './keys.js';

export interface RedisPresenceOptions {
  client: RedisClient;
  /** Entries not touched for this long are expired by `sweep` and hidden by `list`. */
  timeoutMs: number;
  keys?: KeySpace;
  observe?: ObserveLatency;
  /** An operation Redis has not answered within this time fails with `REDIS_UNAVAILABLE` (default 5000 ms). */
  commandTimeoutMs?: number;
  /** Rooms examined per round of `sweep` (default 200). */
  sweepBatch?: number;
}

/** {connectionId, userId, status, metadataAt, metadata JSON or '', lastSeen} as the scripts return it. */
type RawEntry = [string, string, string, string, string, string];
/** {others, old, new}: see lua/lib/presence.lua. */
type RawChange = [RawEntry[], RawEntry | [], RawEntry | []] | [];
type RawSweep = [[string, RawEntry[], RawEntry[]][], string, string[]];

function toEntry(raw: RawEntry): ConnectionEntry {
  const [, userId, status, metadataAt, metadata, lastSeen] = raw;
  const entry: ConnectionEntry = { userId, status: status as PresenceStatus, metadataAt: Number(metadataAt), lastSeen: Number(lastSeen) };
  if (metadata !== '') entry.metadata = JSON.parse(metadata) as Metadata;
  return entry;
}

/** The change between a user's entries before and after, as the memory store reports it. */
function diff(key: RoomKey, userId: string, before: ConnectionEntry[], after: ConnectionEntry[]): PresenceChange {
  if (after.length === 0) return before.length === 0 ? { kind: 'none', key } : { kind: 'leave', key, userId };
  const now = aggregateUser(userId, after);
  if (before.length === 0) return { kind: 'join', key, user: now };
  return visiblyDifferent(aggregateUser(userId, before), now) ? { kind: 'update', key, user: now } : { kind: 'none', key };
}

function changeOf(key: RoomKey, raw: RawChange, userId?: string): PresenceChange | undefined {
  if (raw.length === 0) return undefined;
  const [others, old, neu] = raw;
  const base = others.map(toEntry);
  const id = userId ?? (neu[1] as string | undefined) ?? (old[1] as string);
  const before = old.length ? [...base, toEntry(old)] : base;
  const after = neu.length ? [...base, toEntry(neu)] : base;
  return diff(key, id, before, after);
}

/**
 * Presence in Redis. Each room's entries are in keys of the room's slot and
 * every change to them is one Lua script, so concurrent instances never see
 * half a change. Two indexes live outside the rooms, each used with
 * single-key commands only (safe on a Cluster):
 * - per connection, the set of its rooms, so `touch` finds them;
 * - a sorted set of rooms scored by the earliest time one of their entries can
 *   expire, so `sweep` only visits rooms with something to expire. `join` lowers
 *   that score (ZADD LT); a sweep sets it to the earliest remaining touch plus
 *   the timeout. A join racing a sweep with an older clock than the room's
 *   other entries can make the score late by that clock difference, never
 *   lose the room.
 */
export class RedisPresenceStore implements PresenceStore {
  private readonly ops: RedisOps;
  private readonly client: RedisClient;
  private readonly keys: KeySpace;
  private readonly timeoutMs: number;
  /** Room keys live this long without writes, so rooms of vanished clusters do not stay forever. */
  private readonly idleMs: number;
  private readonly batch: number;
  private readonly scripts: Record<'join' | 'leave' | 'setStatus' | 'touch' | 'list' | 'sweep', ScriptCall>;

  constructor(opts: RedisPresenceOptions) {
    this.client = opts.client;
    this.ops = new RedisOps(opts.client, opts.observe, opts.commandTimeoutMs);
    this.keys = opts.keys ?? new KeySpace();
    this.timeoutMs = opts.timeoutMs;
    this.idleMs = Math.max(3 * opts.timeoutMs, 600_000);
    this.batch = opts.sweepBatch ?? 200;
    const c = opts.client;
    this.scripts = {
      join: defineScript(c, 'presence-join.lua', 2),
      leave: defineScript(c, 'presence-leave.lua', 2),
      setStatus: defineScript(c, 'presence-status.lua', 2),
      touch: defineScript(c, 'presence-touch.lua', 2),
      list: defineScript(c, 'presence-list.lua', 2),
      sweep: defineScript(c, 'presence-sweep.lua', 2),
    };
  }

  /** Runs a room script: KEYS are the room's entries and touches, ARGV starts with the user-set prefix and idle time. */
  private room(script: keyof RedisPresenceStore['scripts'], key: RoomKey, ...args: ScriptArg[]): Promise<unknown> {
    const k = this.keys;
    return this.scripts[script](k.presenceEntries(key), k.presenceSeen(key), k.presenceUserPrefix(key), this.idleMs, ...args);
  }

  join(key: RoomKey, conn: PresenceConnection, now: number): Promise<PresenceChange> {
    return this.ops.run('presence.join', async () => {
      const metadata = conn.metadata === undefined ? '' : JSON.stringify(conn.metadata);
      const raw = (await this.room('join', key, conn.connectionId, conn.userId, conn.status, conn.serverId, now, metadata)) as RawChange;
      const rk = roomKeyString(key);
      const idx = this.keys.presenceConnection(conn.connectionId);
      await Promise.all([
        this.client.sadd(idx, rk),
        this.client.pexpire(idx, this.idleMs),
        this.client.call('ZADD', this.keys.presenceDue(), 'LT', now + this.timeoutMs, rk),
      ]);
      return changeOf(key, raw, conn.userId) ?? { kind: 'none', key };
    });
  }

  leave(key: RoomKey, connectionId: string): Promise<PresenceChange> {
    return this.ops.run('presence.leave', async () => {
      const raw = (await this.room('leave', key, connectionId)) as RawChange;
      if (raw.length) await this.client.srem(this.keys.presenceConnection(connectionId), roomKeyString(key));
      return changeOf(key, raw) ?? { kind: 'none', key };
    });
  }

  setStatus(keys: RoomKey[], connectionId: string, status: PresenceStatus, metadata: Metadata | undefined, now: number): Promise<PresenceChange[]> {
    return this.ops.run('presence.status', async () => {
      const meta = metadata === undefined ? '' : JSON.stringify(metadata);
      const raws = await Promise.all(keys.map((key) => this.room('setStatus', key, connectionId, status, meta, now) as Promise<RawChange>));
      const changes: PresenceChange[] = [];
      raws.forEach((raw, i) => {
        const change = changeOf(keys[i] as RoomKey, raw);
        if (change) changes.push(change);
      });
      return changes;
    });
  }

  touch(connectionIds: string[], now: number): Promise<void> {
    return this.ops.run('presence.touch', async () => {
      await Promise.all(
        connectionIds.map(async (id) => {
          const idx = this.keys.presenceConnection(id);
          const rooms = await this.client.smembers(idx);
          if (rooms.length === 0) return;
          await Promise.all([
            this.client.pexpire(idx, this.idleMs),
            ...rooms.map(async (rk) => {
              const key = parseRoomKey(rk);
              const present = key ? ((await this.room('touch', key, id, now)) as number) : 0;
              if (present !== 1) await this.client.srem(idx, rk);
            }),
          ]);
        }),
      );
    });
  }

  list(key: RoomKey, now: number): Promise<PresenceInfo[]> {
    return this.ops.run('presence.list', async () => {
      const raw = (await this.room('list', key, now - this.timeoutMs)) as RawEntry[];
      const users = new Map<string, ConnectionEntry[]>();
      for (const r of raw) {
        const e = toEntry(r);
        const list = users.get(e.userId);
        if (list) list.push(e);
        else users.set(e.userId, [e]);
      }
      return [...users].map(([userId, entries]) => aggregateUser(userId, entries));
    });
  }

  sweep(now: number): Promise<PresenceChange[]> {
    return this.ops.run('presence.sweep', async () => {
      const changes: PresenceChange[] = [];
      // Each round leaves every visited room scored after `now` (or removed), so rounds make progress.
      for (let round = 0; round < 1000; round++) {
        const due = await this.client.zrangebyscore(this.keys.presenceDue(), '-inf', now, 'LIMIT', 0, this.batch);
        const results = await Promise.all(due.map((rk) => this.sweepRoom(rk, now)));
        for (const r of results) changes.push(...r);
        if (due.length < this.batch) break;
      }
      return changes;
    });
  }

  private async sweepRoom(rk: string, now: number): Promise<PresenceChange[]> {
    const dueKey = this.keys.presenceDue();
    const key = parseRoomKey(rk);
    if (!key) {
      await this.client.zrem(dueKey, rk);
      return [];
    }
    const [groups, earliest, removedIds] = (await this.room('sweep', key, now - this.timeoutMs)) as RawSweep;
    const pending: Promise<unknown>[] = removedIds.map((id) => this.client.srem(this.keys.presenceConnection(id), rk));
    if (earliest !== '') {
      pending.push(this.client.zadd(dueKey, Number(earliest) + this.timeoutMs, rk));
    } else {
      // The room looked empty: drop it from the index, then look again, since a
      // join may have added an entry (and its index score) in between.
      await this.client.zrem(dueKey, rk);
      const head = await this.client.zrange(this.keys.presenceSeen(key), 0, 0, 'WITHSCORES');
      if (head[1] !== undefined) pending.push(this.client.call('ZADD', dueKey, 'LT', Number(head[1]) + this.timeoutMs, rk));
    }
    await Promise.all(pending);
    // One change per user: the user's removed entries against what remains.
    return groups.map(([userId, removed, remaining]) => {
      const after = remaining.map(toEntry);
      return diff(key, userId, [...after, ...removed.map(toEntry)], after);
    }).filter((c) => c.kind !== 'none');
  }
}
