import type { Metadata, PresenceInfo, PresenceStatus } from '@intelgraph/websocket-protocol';

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
