import type { Metadata, PresenceInfo, PresenceStatus } from '@intelgraph/websocket-protocol';
import { MAX_ROOMS_PAGE, type PresenceChange, type RoomKey, type RoomOccupancy, type StatusCounts } from './types.js';

/**
 * How a user's connections combine into one status: an explicit `busy` on any
 * connection wins; otherwise the most available of online > away > offline.
 */
const STATUS_RANK: Record<PresenceStatus, number> = { busy: 4, online: 3, away: 2, offline: 1 };

export function aggregateStatus(statuses: Iterable<PresenceStatus>): PresenceStatus {
  let best: PresenceStatus = 'offline';
  for (const s of statuses) if (STATUS_RANK[s] > STATUS_RANK[best]) best = s;
  return best;
}

export interface ConnectionEntry {
  userId: string;
  status: PresenceStatus;
  metadata?: Metadata;
  /** When metadata was last set, to pick the most recent one. */
  metadataAt: number;
  lastSeen: number;
}

/** One user's entry from that user's connection entries (at least one). */
export function aggregateUser(userId: string, entries: readonly ConnectionEntry[]): PresenceInfo {
  let lastSeen = 0;
  let metadata: Metadata | undefined;
  let metadataAt = -1;
  for (const e of entries) {
    if (e.lastSeen > lastSeen) lastSeen = e.lastSeen;
    if (e.metadata !== undefined && e.metadataAt > metadataAt) {
      metadata = e.metadata;
      metadataAt = e.metadataAt;
    }
  }
  const info: PresenceInfo = {
    userId,
    status: aggregateStatus(entries.map((e) => e.status)),
    lastSeen,
    connections: entries.length,
  };
  if (metadata !== undefined) info.metadata = metadata;
  return info;
}

/** Whether two entries differ in what members see change (status, connections, metadata). */
export function visiblyDifferent(a: PresenceInfo, b: PresenceInfo): boolean {
  return (
    a.status !== b.status ||
    a.connections !== b.connections ||
    JSON.stringify(a.metadata ?? null) !== JSON.stringify(b.metadata ?? null)
  );
}

/** A room's occupancy from its live entries (connection id aside, one per connection). */
export function occupancyOf(room: string, entries: Iterable<{ userId: string; status: PresenceStatus }>): RoomOccupancy {
  const users = new Map<string, PresenceStatus>();
  let connections = 0;
  for (const e of entries) {
    connections++;
    const prior = users.get(e.userId);
    users.set(e.userId, prior === undefined ? e.status : aggregateStatus([prior, e.status]));
  }
  const byStatus: StatusCounts = { online: 0, away: 0, busy: 0, offline: 0 };
  for (const s of users.values()) byStatus[s]++;
  return { room, connections, users: users.size, byStatus };
}

/** The change between a user's entries in a room before and after an operation. */
export function presenceDiff(key: RoomKey, userId: string, before: readonly ConnectionEntry[], after: readonly ConnectionEntry[], created: 'join' | 'restore' = 'join'): PresenceChange {
  if (after.length === 0) return before.length === 0 ? { kind: 'none', key } : { kind: 'leave', key, userId };
  const now = aggregateUser(userId, after);
  if (before.length === 0) return { kind: created, key, user: now };
  return visiblyDifferent(aggregateUser(userId, before), now) ? { kind: 'update', key, user: now } : { kind: 'none', key };
}

/** `limit` as `PresenceStore.rooms` applies it. */
export function roomsPageSize(limit: number): number {
  return Math.min(MAX_ROOMS_PAGE, Math.max(1, Math.floor(limit) || 1));
}
