import type { Metadata, PresenceInfo, PresenceStatus } from '@intelgraph/websocket-protocol';
import { aggregateUser, occupancyOf, presenceDiff, roomsPageSize, type ConnectionEntry } from '../presence-aggregate.js';
import {
  parseRoomKey,
  roomKeyString,
  type PresenceAssertion,
  type PresenceChange,
  type PresenceConnection,
  type PresenceStore,
  type RoomKey,
  type RoomOccupancy,
  type RoomsPage,
  type RoomsQuery,
} from '../types.js';
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
/** {others, old, new}: see lua/lib/presence.lua (a leave adds the room's remaining entries). */
type RawChange = [RawEntry[], RawEntry | [], RawEntry | [], number?] | [];
/** {userId, entries before, entries after} per user whose entries an upsert wrote. */
type RawUpsert = [string, RawEntry[], RawEntry[]][];
type RawSweep = [[string, RawEntry[], RawEntry[]][], string, string[]];

function toEntry(raw: RawEntry): ConnectionEntry {
  const [, userId, status, metadataAt, metadata, lastSeen] = raw;
  const entry: ConnectionEntry = { userId, status: status as PresenceStatus, metadataAt: Number(metadataAt), lastSeen: Number(lastSeen) };
  if (metadata !== '') entry.metadata = JSON.parse(metadata) as Metadata;
  return entry;
}

function changeOf(key: RoomKey, raw: RawChange, userId?: string): PresenceChange | undefined {
  if (raw.length === 0) return undefined;
  const [others, old, neu] = raw;
  const base = others.map(toEntry);
  const id = userId ?? (neu[1] as string | undefined) ?? (old[1] as string);
  const before = old.length ? [...base, toEntry(old)] : base;
  const after = neu.length ? [...base, toEntry(neu)] : base;
  return presenceDiff(key, id, before, after);
}

/** Byte 0xff: after every byte of a UTF-8 name, so `[prefix` .. `[prefix\xff` spans the names starting with prefix. */
const LEX_END = Buffer.from([0xff]);

/**
 * Presence in Redis. Each room's entries are in keys of the room's slot and
 * every change to them is one Lua script, so concurrent instances never see
 * half a change. Three indexes live outside the rooms, each used with
 * single-key commands only (safe on a Cluster), and each re-asserted by the
 * owners' `upsert` every maintenance round, like the entries:
 * - per tenant, the names of its rooms with presence (`rooms`), removed when a
 *   leave or a sweep empties the room;
 * - per connection, the set of its rooms (`roomsOf`);
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
  private readonly scripts: Record<'join' | 'leave' | 'setStatus' | 'upsert' | 'list' | 'occupancy' | 'sweep', ScriptCall>;

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
      upsert: defineScript(c, 'presence-upsert.lua', 2),
      list: defineScript(c, 'presence-list.lua', 2),
      occupancy: defineScript(c, 'presence-occupancy.lua', 2),
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
      await Promise.all([this.client.sadd(idx, rk), this.client.pexpire(idx, this.idleMs), ...this.indexRoom(key, now)]);
      const change = changeOf(key, raw, conn.userId) ?? { kind: 'none', key };
      return change.kind === 'join' && raw[3] === 0 ? { ...change, room: 'occupied' } : change;
    });
  }

  leave(key: RoomKey, connectionId: string): Promise<PresenceChange> {
    return this.ops.run('presence.leave', async () => {
      const raw = (await this.room('leave', key, connectionId)) as RawChange;
      if (raw.length) {
        await Promise.all([
          this.client.srem(this.keys.presenceConnection(connectionId), roomKeyString(key)),
          raw[3] === 0 ? this.unindexRoom(key) : undefined,
        ]);
      }
      const change = changeOf(key, raw) ?? { kind: 'none', key };
      return change.kind === 'leave' && raw[3] === 0 ? { ...change, room: 'vacated' } : change;
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

  upsert(entries: readonly PresenceAssertion[], now: number): Promise<PresenceChange[]> {
    return this.ops.run('presence.upsert', async () => {
      // One script per room (its keys share a slot), one index update per room and per connection.
      const rooms = new Map<string, { key: RoomKey; args: string[] }>();
      const byConnection = new Map<string, string[]>();
      for (const { key, conn } of entries) {
        const rk = roomKeyString(key);
        let room = rooms.get(rk);
        if (!room) rooms.set(rk, (room = { key, args: [] }));
        room.args.push(conn.connectionId, conn.userId, conn.status, conn.serverId, conn.metadata === undefined ? '' : JSON.stringify(conn.metadata));
        const own = byConnection.get(conn.connectionId);
        if (own) own.push(rk);
        else byConnection.set(conn.connectionId, [rk]);
      }
      const groups = await Promise.all(
        [...rooms.values()].map(async ({ key, args }) => {
          const raw = (await this.room('upsert', key, now, ...args)) as RawUpsert;
          return raw.map(([userId, before, after]) => presenceDiff(key, userId, before.map(toEntry), after.map(toEntry), 'restore'));
        }),
      );
      await Promise.all([
        ...[...rooms.values()].flatMap(({ key }) => this.indexRoom(key, now)),
        ...[...byConnection].flatMap(([id, rks]) => {
          const idx = this.keys.presenceConnection(id);
          return [this.client.sadd(idx, ...rks), this.client.pexpire(idx, this.idleMs)];
        }),
      ]);
      return groups.flat().filter((c) => c.kind !== 'none');
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

  occupancy(key: RoomKey, now: number): Promise<RoomOccupancy> {
    return this.ops.run('presence.occupancy', () => this.occupancyOf(key, now));
  }

  rooms(tenantId: string, query: RoomsQuery, now: number): Promise<RoomsPage> {
    return this.ops.run('presence.rooms', async () => {
      const limit = roomsPageSize(query.limit);
      const prefix = query.prefix ?? '';
      // From the later of the prefix and `after`, to the end of the names starting with the prefix.
      const from = query.after !== undefined && Buffer.compare(Buffer.from(query.after), Buffer.from(prefix)) >= 0 ? `(${query.after}` : `[${prefix}`;
      const to = Buffer.concat([Buffer.from(`[${prefix}`), LEX_END]);
      const names = await this.client.zrangebylex(this.keys.presenceRooms(tenantId), from, to, 'LIMIT', 0, limit + 1);
      const examined = names.slice(0, limit);
      const all = await Promise.all(examined.map((room) => this.occupancyOf({ tenantId, room }, now)));
      const rooms = all.filter((o) => o.connections > 0);
      return names.length > limit ? { rooms, next: examined[examined.length - 1] as string } : { rooms };
    });
  }

  roomsOf(connectionId: string, now: number): Promise<string[]> {
    return this.ops.run('presence.roomsOf', async () => {
      const rks = await this.client.smembers(this.keys.presenceConnection(connectionId));
      const live = await Promise.all(
        rks.map(async (rk) => {
          const key = parseRoomKey(rk);
          if (!key) return undefined;
          const seen = await this.client.zscore(this.keys.presenceSeen(key), connectionId);
          return seen !== null && Number(seen) > now - this.timeoutMs ? key.room : undefined;
        }),
      );
      return live.filter((r): r is string => r !== undefined).sort();
    });
  }

  private async occupancyOf(key: RoomKey, now: number): Promise<RoomOccupancy> {
    const flat = (await this.room('occupancy', key, now - this.timeoutMs)) as string[];
    const entries: { userId: string; status: PresenceStatus }[] = [];
    for (let i = 0; i < flat.length; i += 2) entries.push({ userId: flat[i] as string, status: flat[i + 1] as PresenceStatus });
    return occupancyOf(key.room, entries);
  }

  /** The room in the sweep index (due no later than a timeout from now) and in its tenant's room index. */
  private indexRoom(key: RoomKey, now: number): Promise<unknown>[] {
    const rooms = this.keys.presenceRooms(key.tenantId);
    return [
      this.client.call('ZADD', this.keys.presenceDue(), 'LT', now + this.timeoutMs, roomKeyString(key)),
      this.client.zadd(rooms, 0, key.room),
      this.client.pexpire(rooms, this.idleMs),
    ];
  }

  /**
   * Takes an emptied room out of its tenant's index, then looks again: an entry written in between
   * (a join on another instance) puts it back, so a room with presence is never left out.
   */
  private async unindexRoom(key: RoomKey): Promise<void> {
    const rooms = this.keys.presenceRooms(key.tenantId);
    await this.client.zrem(rooms, key.room);
    if ((await this.client.zcard(this.keys.presenceSeen(key))) > 0) await this.client.zadd(rooms, 0, key.room);
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
      // The room looked empty: drop it from the indexes, then look again, since a
      // join may have added an entry (and its index score) in between.
      await Promise.all([this.client.zrem(dueKey, rk), this.unindexRoom(key)]);
      const head = await this.client.zrange(this.keys.presenceSeen(key), 0, 0, 'WITHSCORES');
      if (head[1] !== undefined) pending.push(this.client.call('ZADD', dueKey, 'LT', Number(head[1]) + this.timeoutMs, rk));
    }
    await Promise.all(pending);
    // One change per user: the user's removed entries against what remains.
    const changes = groups.map(([userId, removed, remaining]) => {
      const after = remaining.map(toEntry);
      return presenceDiff(key, userId, [...after, ...removed.map(toEntry)], after);
    }).filter((c) => c.kind !== 'none');
    // The script emptied the room: its last leave vacates it.
    const last = changes[changes.length - 1];
    if (earliest === '' && last?.kind === 'leave') changes[changes.length - 1] = { ...last, room: 'vacated' };
    return changes;
  }
}
