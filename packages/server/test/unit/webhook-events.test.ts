import { describe, expect, it } from 'vitest';
import type { RoomKey } from '../../src/engine/types.js';
import { endpoint } from '../../src/webhook-endpoints.js';
import { messageEvent, parseSubject, presenceEvents, subjects, toOutbox, userEvent } from '../../src/webhooks/events.js';

const key: RoomKey = { tenantId: 'acme', room: 'support/1' };
const user = { userId: 'alice', status: 'online' as const, lastSeen: 1, connections: 1 };
const secret = 's'.repeat(40);
const parsed = (json: string) => JSON.parse(json) as { id: string; type: string; tenantId: string; time: string; data: unknown };

describe('webhook events from store changes', () => {
  it('puts room.occupied before member.joined and member.left before room.vacated, each with its grace pair', () => {
    expect(presenceEvents({ kind: 'join', key, user, room: 'occupied' }).map((d) => [d.type, d.hold?.kind])).toEqual([
      ['room.occupied', 'enter'],
      ['member.joined', 'enter'],
    ]);
    expect(presenceEvents({ kind: 'leave', key, userId: 'alice', room: 'vacated' }).map((d) => [d.type, d.hold])).toEqual([
      ['member.left', { kind: 'leave', subject: subjects.member(key, 'alice') }],
      ['room.vacated', { kind: 'leave', subject: subjects.room(key) }],
    ]);
    expect(presenceEvents({ kind: 'update', key, user }).map((d) => [d.type, d.hold])).toEqual([['presence.changed', undefined]]);
    // A store that re-created what it lost: nobody joined.
    expect(presenceEvents({ kind: 'restore', key, user })).toEqual([]);
    expect(presenceEvents({ kind: 'none', key })).toEqual([]);
  });

  it('names subjects that parse back, and nothing else', () => {
    expect(parseSubject(subjects.member(key, 'a"b'))).toEqual({ kind: 'member', key, userId: 'a"b' });
    expect(parseSubject(subjects.room(key))).toEqual({ kind: 'room', key });
    expect(parseSubject(subjects.user('acme', 'bob'))).toEqual({ kind: 'user', tenantId: 'acme', userId: 'bob' });
    for (const bad of ['', 'x', '["member","acme"]', '[1,2,3]', '{"kind":"room"}']) expect(parseSubject(bad)).toBeUndefined();
  });

  it('routes by tenant, event type and room prefix, keeping a grace pair when only its partner is wanted', () => {
    const all = endpoint(undefined, 'https://all.example.com/', secret);
    const acme = endpoint('acme', 'https://acme.example.com/', secret, ['member.left', 'message.published'], ['support/']);
    const now = Date.parse('2026-12-01T04:00:00.000Z');
    const message = { id: 'm1', room: key.room, from: 'alice', payload: 1, timestamp: now };
    const items = toOutbox(
      [
        ...presenceEvents({ kind: 'join', key, user }),
        messageEvent(key, message),
        messageEvent({ tenantId: 'acme', room: 'sales/1' }, message),
        userEvent('user.online', 'globex', 'gus'),
      ],
      [all, acme],
      now,
    );
    expect(items.map((i) => [parsed(i.json).type, i.endpoints])).toEqual([
      // member.joined: WEBHOOK_URL wants it; acme only wants its partner member.left, so the pair is kept.
      ['member.joined', [all.id]],
      ['message.published', [acme.id]],
      ['user.online', [all.id]],
    ]);
    const [first] = items;
    const event = parsed(first?.json as string);
    expect(event).toEqual({ id: first?.id, type: 'member.joined', tenantId: 'acme', time: '2026-12-01T04:00:00.000Z', data: { room: key.room, user } });
    expect(new Set(items.map((i) => i.id)).size).toBe(items.length);
    // Nobody wants either event of the pair: nothing is written.
    expect(toOutbox([userEvent('user.offline', 'acme', 'bob')], [endpoint(undefined, 'https://m.example.com/', secret, ['message.published'])], now)).toEqual([]);
  });
});
