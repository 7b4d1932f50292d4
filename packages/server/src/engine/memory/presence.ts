import type { Metadata, PresenceInfo, PresenceStatus } from '@intelgraph/websocket-protocol';
import { aggregateUser, visiblyDifferent, type ConnectionEntry } from '../presence-aggregate.js';
import {
  parseRoomKey,
  roomKeyString,
  type PresenceChange,
  type PresenceConnection,
  type PresenceStore,
  type RoomKey,
} from '../types.js';

interface Entry extends ConnectionEntry {
  connectionId: string;
  serverId: string;
}

/** Presence kept in this process. Entries expire `timeoutMs` after their last touch. */
export class MemoryPresenceStore implements PresenceStore {
  /** room key -> connection id -> entry */
  private readonly rooms = new Map<string, Map<string, Entry>>();
  /** connection id -> room keys */
  private readonly byConnection = new Map<string, Set<string>>();

  constructor(private readonly timeoutMs: number) {}

  async join(key: RoomKey, conn: PresenceConnection, now: number): Promise<PresenceChange> {
    const k = roomKeyString(key);
    let room = this.rooms.get(k);
    if (!room) this.rooms.set(k, (room = new Map()));
    const before = this.userInfo(room, conn.userId);
    const entry: Entry = {
      connectionId: conn.connectionId,
      serverId: conn.serverId,
      userId: conn.userId,
      status: conn.status,
      lastSeen: now,
      metadataAt: now,
    };
    if (conn.metadata !== undefined) entry.metadata = conn.metadata;
    room.set(conn.connectionId, entry);
    let rooms = this.byConnection.get(conn.connectionId);
    if (!rooms) this.byConnection.set(conn.connectionId, (rooms = new Set()));
    rooms.add(k);
    const after = this.userInfo(room, conn.userId) as PresenceInfo;
    if (!before) return { kind: 'join', key, user: after };
    return visiblyDifferent(before, after) ? { kind: 'update', key, user: after } : { kind: 'none', key };
  }

  async leave(key: RoomKey, connectionId: string): Promise<PresenceChange> {
    return this.remove(roomKeyString(key), key, connectionId);
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
      const room = this.rooms.get(roomKeyString(key));
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

  async touch(connectionIds: string[], now: number): Promise<void> {
    for (const id of connectionIds) {
      for (const k of this.byConnection.get(id) ?? []) {
        const entry = this.rooms.get(k)?.get(id);
        if (entry) entry.lastSeen = now;
      }
    }
  }

  async list(key: RoomKey, now: number): Promise<PresenceInfo[]> {
    const room = this.rooms.get(roomKeyString(key));
    if (!room) return [];
    const users = new Map<string, Entry[]>();
    for (const e of room.values()) {
      if (e.lastSeen + this.timeoutMs <= now) continue;
      const list = users.get(e.userId);
      if (list) list.push(e);
      else users.set(e.userId, [e]);
    }
    return [...users].map(([userId, entries]) => aggregateUser(userId, entries));
  }

  async sweep(now: number): Promise<PresenceChange[]> {
    const changes: PresenceChange[] = [];
    for (const [k, room] of this.rooms) {
      const key = parseRoomKey(k) as RoomKey;
      for (const e of [...room.values()]) {
        if (e.lastSeen + this.timeoutMs <= now) {
          const change = this.remove(k, key, e.connectionId);
          if (change.kind !== 'none') changes.push(change);
        }
      }
    }
    return changes;
  }

  async size(): Promise<number> {
    let n = 0;
    for (const room of this.rooms.values()) n += new Set([...room.values()].map((e) => e.userId)).size;
    return n;
  }

  private remove(k: string, key: RoomKey, connectionId: string): PresenceChange {
    const room = this.rooms.get(k);
    const entry = room?.get(connectionId);
    if (!room || !entry) return { kind: 'none', key };
    const before = this.userInfo(room, entry.userId) as PresenceInfo;
    room.delete(connectionId);
    if (room.size === 0) this.rooms.delete(k);
    const rooms = this.byConnection.get(connectionId);
    rooms?.delete(k);
    if (rooms?.size === 0) this.byConnection.delete(connectionId);
    const after = this.userInfo(room, entry.userId);
    if (!after) return { kind: 'leave', key, userId: entry.userId };
    return visiblyDifferent(before, after) ? { kind: 'update', key, user: after } : { kind: 'none', key };
  }

  private userInfo(room: Map<string, Entry>, userId: string): PresenceInfo | undefined {
    const entries: Entry[] = [];
    for (const e of room.values()) if (e.userId === userId) entries.push(e);
    return entries.length ? aggregateUser(userId, entries) : undefined;
  }
}
