/**
 * Webhook events from what the shared stores report. Each store change is reported to exactly one
 * instance (the one whose atomic step made it: a join, a leave, a sweep of expired entries, the
 * release of a user's last connection), so deriving the events there makes each of them once,
 * cluster-wide. `hold` pairs a leave with the enter that cancels it within the grace window.
 */
import { randomUUID } from 'node:crypto';
import type { PresenceInfo, RoomMessage } from '@intelgraph/websocket-protocol';
import type { OutboxItem, PresenceChange, RoomKey } from '../engine/types.js';
import { wants, type WebhookEndpoint, type WebhookEventType } from '../webhook-endpoints.js';

/** The body's `events[]` entries, as delivered. */
export interface WebhookEvent {
  /** Stable across retries and replays: the receiver de-duplicates by it. */
  id: string;
  type: WebhookEventType;
  tenantId: string;
  /** When the change happened (ISO 8601, the deriving instance's clock). */
  time: string;
  data: Record<string, unknown>;
}

interface Derived {
  type: WebhookEventType;
  tenantId: string;
  room?: string;
  data: Record<string, unknown>;
  hold?: OutboxItem['hold'];
}

/** The subject a leave and its cancelling enter share: what left and came back. */
export const subjects = {
  member: (key: RoomKey, userId: string) => JSON.stringify(['member', key.tenantId, key.room, userId]),
  room: (key: RoomKey) => JSON.stringify(['room', key.tenantId, key.room]),
  user: (tenantId: string, userId: string) => JSON.stringify(['user', tenantId, userId]),
};

/** What a held leave's subject names, to check it is still true when its window ends. */
export type Subject = { kind: 'member'; key: RoomKey; userId: string } | { kind: 'room'; key: RoomKey } | { kind: 'user'; tenantId: string; userId: string };

export function parseSubject(subject: string): Subject | undefined {
  try {
    const v = JSON.parse(subject) as unknown;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
    const [kind, a, b, c] = v as string[];
    if (kind === 'member' && c !== undefined) return { kind, key: { tenantId: a as string, room: b as string }, userId: c };
    if (kind === 'room' && b !== undefined) return { kind, key: { tenantId: a as string, room: b } };
    if (kind === 'user' && b !== undefined) return { kind, tenantId: a as string, userId: b };
  } catch {
    // not a subject of ours
  }
  return undefined;
}

/** The events of one presence change: room.occupied before member.joined, member.left before room.vacated. */
export function presenceEvents(change: PresenceChange): Derived[] {
  const { key } = change;
  const base = { tenantId: key.tenantId, room: key.room };
  switch (change.kind) {
    case 'join': {
      const joined: Derived = { ...base, type: 'member.joined', data: { room: key.room, user: change.user }, hold: { kind: 'enter', subject: subjects.member(key, change.user.userId) } };
      if (change.room !== 'occupied') return [joined];
      return [{ ...base, type: 'room.occupied', data: { room: key.room }, hold: { kind: 'enter', subject: subjects.room(key) } }, joined];
    }
    case 'leave': {
      const left: Derived = { ...base, type: 'member.left', data: { room: key.room, userId: change.userId }, hold: { kind: 'leave', subject: subjects.member(key, change.userId) } };
      if (change.room !== 'vacated') return [left];
      return [left, { ...base, type: 'room.vacated', data: { room: key.room }, hold: { kind: 'leave', subject: subjects.room(key) } }];
    }
    case 'update':
      return [{ ...base, type: 'presence.changed', data: { room: key.room, user: change.user satisfies PresenceInfo } }];
    // A restore re-creates what a store lost: nobody joined.
    case 'restore':
    case 'none':
      return [];
  }
}

export function userEvent(type: 'user.online' | 'user.offline', tenantId: string, userId: string): Derived {
  return { type, tenantId, data: { userId }, hold: { kind: type === 'user.online' ? 'enter' : 'leave', subject: subjects.user(tenantId, userId) } };
}

export function messageEvent(key: RoomKey, message: RoomMessage): Derived {
  return { type: 'message.published', tenantId: key.tenantId, room: key.room, data: { room: key.room, message } };
}

/** The other event of each grace pair. */
const PARTNER: Partial<Record<WebhookEventType, WebhookEventType>> = {
  'member.joined': 'member.left',
  'member.left': 'member.joined',
  'room.occupied': 'room.vacated',
  'room.vacated': 'room.occupied',
  'user.online': 'user.offline',
  'user.offline': 'user.online',
};

/**
 * The outbox items of derived events: ids and times given, endpoints chosen. An event no endpoint
 * wants is left out, unless it takes part in a grace pair (its partner may be wanted elsewhere, and
 * a cancelled pair must cancel everywhere).
 */
export function toOutbox(derived: readonly Derived[], endpoints: readonly WebhookEndpoint[], now: number): OutboxItem[] {
  let time: string | undefined;
  const items: OutboxItem[] = [];
  for (const d of derived) {
    const targets = endpoints.filter((e) => wants(e, d.type, d.tenantId, d.room)).map((e) => e.id);
    if (targets.length === 0) {
      const partner = d.hold && PARTNER[d.type];
      if (!partner || !endpoints.some((e) => wants(e, partner, d.tenantId, d.room))) continue;
    }
    time ??= new Date(now).toISOString();
    const event: WebhookEvent = { id: `evt_${randomUUID().replace(/-/g, '')}`, type: d.type, tenantId: d.tenantId, time, data: d.data };
    items.push({ id: event.id, json: JSON.stringify(event), endpoints: targets, ...(d.hold && { hold: d.hold }) });
  }
  return items;
}
