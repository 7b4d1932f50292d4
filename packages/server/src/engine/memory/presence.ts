import type { Metadata, PresenceInfo, PresenceStatus } from '@intelgraph/websocket-protocol';
import { aggregateUser, occupancyOf, presenceDiff, roomsPageSize, visiblyDifferent, type ConnectionEntry } from '../presence-aggregate.js';
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

interface Entry extends ConnectionEntry {
  connectionId: string;
  serverId: string;
}

function entryOf(conn: PresenceConnection, now: number, metadataAt: number): Entry {
  const entry: Entry = { connectionId: conn.connectionId, serverId: conn.serverId, userId: conn.userId, status: conn.status, lastSeen: now, metadataAt };
  if (conn.metadata !== undefined) entry.metadata = conn.metadata;
  return entry;
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Presence kept in this process. Entries expire `timeoutMs` after their last refresh. */
export class MemoryPresenceStore implements PresenceStore {
  /** room key -> connection id -> entry */
  private readonly rooms_ = new Map<string, Map<string, Entry>>();
  /** connection id -> room keys */
  private readonly byConnection = new Map<string, Set<string>>();
  /** tenant -> names of its rooms with entries */
  private readonly byTenant = new Map<string, Set<string>>();

  constructor(private readonly timeoutMs: number) {}

  async join(key: RoomKey, conn: PresenceConnection, now: number): Promise<PresenceChange> {
    const room = this.roomOf(key);
    const before = this.entriesOf(room, conn.userId);
    const empty = room.size === 0;
    this.put(key, room, entryOf(conn, now, now));
    const change = presenceDiff(key, conn.userId, before, this.entriesOf(room, conn.userId));
    return change.kind === 'join' && empty ? { ...change, room: 'occupied' } : change;
  }

  async leave(key: RoomKey, connectionId: string): Promise<PresenceChange> {
    return this.remove(key, connectionId);
  }

  async setStatus(
    keys: RoomKey[],
    connectionId: string,
    status: PresenceStatus,
    metadata: Metadata | undefined,
    now: number,
  ): Promise<PresenceChange[]> {
    const changes: PresenceChange[] = [];
    for (const key of keys) {
      const room = this.rooms_.get(roomKeyString(key));
      const entry = room?.get(connectionId);
      if (!room || !entry) continue;
      const before = this.userInfo(room, entry.userId) as PresenceInfo;
      entry.status = status;
      entry.lastSeen = now;
      if (metadata !== undefined) {
        entry.metadata = metadata;
        entry.metadataAt = now;
      }
      const after = this.userInfo(room, entry.userId) as PresenceInfo;
      changes.push(visiblyDifferent(before, after) ? { kind: 'update', key, user: after } : { kind: 'none', key });
    }
    return changes;
  }

  async upsert(entries: readonly PresenceAssertion[], now: number): Promise<PresenceChange[]> {
    // Users whose entries change, with their entries before the first change: one change per user and room.
    const touched = new Map<string, { key: RoomKey; room: Map<string, Entry>; userId: string; before: Entry[] }>();
    for (const { key, conn } of entries) {
      const room = this.roomOf(key);
      const old = room.get(conn.connectionId);
      const metadata = JSON.stringify(conn.metadata ?? null);
      if (old && old.userId === conn.userId && old.status === conn.status && old.serverId === conn.serverId && JSON.stringify(old.metadata ?? null) === metadata) {
        old.lastSeen = now;
        continue;
      }
      const users = old && old.userId !== conn.userId ? [old.userId, conn.userId] : [conn.userId];
      for (const userId of users) {
        const id = `${roomKeyString(key)}\u0000${userId}`;
        if (!touched.has(id)) touched.set(id, { key, room, userId, before: this.entriesOf(room, userId).map((e) => ({ ...e })) });
      }
      if (old && old.userId !== conn.userId) this.remove(key, conn.connectionId);
      const sameMetadata = old !== undefined && old.userId === conn.userId && JSON.stringify(old.metadata ?? null) === metadata;
      this.put(key, this.roomOf(key), entryOf(conn, now, sameMetadata ? old.metadataAt : now));
    }
    const changes: PresenceChange[] = [];
    for (const { key, userId, before } of touched.values()) {
      const room = this.rooms_.get(roomKeyString(key));
      const change = presenceDiff(key, userId, before, room ? this.entriesOf(room, userId) : [], 'restore');
      if (change.kind !== 'none') changes.push(change);
    }
    return changes;
  }

  async list(key: RoomKey, now: number): Promise<PresenceInfo[]> {
    const users = new Map<string, Entry[]>();
    for (const e of this.live(key, now)) {
      const list = users.get(e.userId);
      if (list) list.push(e);
      else users.set(e.userId, [e]);
    }
    return [...users].map(([userId, entries]) => aggregateUser(userId, entries));
  }

  async sweep(now: number): Promise<PresenceChange[]> {
    const changes: PresenceChange[] = [];
    for (const [k, room] of this.rooms_) {
      const key = parseRoomKey(k) as RoomKey;
      for (const e of [...room.values()]) {
        if (e.lastSeen + this.timeoutMs <= now) {
          const change = this.remove(key, e.connectionId);
          if (change.kind !== 'none') changes.push(change);
        }
      }
    }
    return changes;
  }

  async occupancy(key: RoomKey, now: number): Promise<RoomOccupancy> {
    return occupancyOf(key.room, this.live(key, now));
  }

  async rooms(tenantId: string, query: RoomsQuery, now: number): Promise<RoomsPage> {
    const limit = roomsPageSize(query.limit);
    const prefix = query.prefix ?? '';
    const names = [...(this.byTenant.get(tenantId) ?? [])]
      .filter((r) => r.startsWith(prefix) && (query.after === undefined || byteOrder(r, query.after) > 0))
      .sort(byteOrder);
    const examined = names.slice(0, limit);
    const rooms: RoomOccupancy[] = [];
    for (const room of examined) {
      const o = await this.occupancy({ tenantId, room }, now);
      if (o.connections > 0) rooms.push(o);
    }
    return names.length > limit ? { rooms, next: examined[examined.length - 1] as string } : { rooms };
  }

  async roomsOf(connectionId: string, now: number): Promise<string[]> {
    const out: string[] = [];
    for (const k of this.byConnection.get(connectionId) ?? []) {
      const e = this.rooms_.get(k)?.get(connectionId);
      if (e && e.lastSeen + this.timeoutMs > now) out.push((parseRoomKey(k) as RoomKey).room);
    }
    return out.sort();
  }

  async size(): Promise<number> {
    let n = 0;
    for (const room of this.rooms_.values()) n += new Set([...room.values()].map((e) => e.userId)).size;
    return n;
  }

  private *live(key: RoomKey, now: number): Iterable<Entry> {
    for (const e of this.rooms_.get(roomKeyString(key))?.values() ?? []) if (e.lastSeen + this.timeoutMs > now) yield e;
  }

  private roomOf(key: RoomKey): Map<string, Entry> {
    const k = roomKeyString(key);
    let room = this.rooms_.get(k);
    if (!room) {
      this.rooms_.set(k, (room = new Map()));
      let names = this.byTenant.get(key.tenantId);
      if (!names) this.byTenant.set(key.tenantId, (names = new Set()));
      names.add(key.room);
    }
    return room;
  }

  private put(key: RoomKey, room: Map<string, Entry>, entry: Entry): void {
    room.set(entry.connectionId, entry);
    let rooms = this.byConnection.get(entry.connectionId);
    if (!rooms) this.byConnection.set(entry.connectionId, (rooms = new Set()));
    rooms.add(roomKeyString(key));
  }

  private remove(key: RoomKey, connectionId: string): PresenceChange {
    const k = roomKeyString(key);
    const room = this.rooms_.get(k);
    const entry = room?.get(connectionId);
    if (!room || !entry) return { kind: 'none', key };
    const before = this.entriesOf(room, entry.userId);
    room.delete(connectionId);
    if (room.size === 0) this.dropRoom(key, k);
    const rooms = this.byConnection.get(connectionId);
    rooms?.delete(k);
    if (rooms?.size === 0) this.byConnection.delete(connectionId);
    const change = presenceDiff(key, entry.userId, before, this.entriesOf(room, entry.userId));
    return change.kind === 'leave' && room.size === 0 ? { ...change, room: 'vacated' } : change;
  }

  private dropRoom(key: RoomKey, k: string): void {
    this.rooms_.delete(k);
    const names = this.byTenant.get(key.tenantId);
    names?.delete(key.room);
    if (names?.size === 0) this.byTenant.delete(key.tenantId);
  }

  private entriesOf(room: Map<string, Entry>, userId: string): Entry[] {
    const entries: Entry[] = [];
    for (const e of room.values()) if (e.userId === userId) entries.push(e);
    return entries;
  }

  private userInfo(room: Map<string, Entry>, userId: string): PresenceInfo | undefined {
    const entries = this.entriesOf(room, userId);
    return entries.length ? aggregateUser(userId, entries) : undefined;
  }
}
