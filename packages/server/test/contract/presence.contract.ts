import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PresenceAssertion, PresenceConnection, PresenceStore, RoomKey } from '../../src/engine/types.js';

export interface PresenceContext {
  store: PresenceStore;
  close(): Promise<void>;
  /** The shared store loses every key (a Redis restarted without persistence); absent for the embedded engine. */
  wipe?(): Promise<void>;
}

export interface PresenceFactory {
  /** A store whose entries expire `timeoutMs` after their last refresh. */
  create(timeoutMs: number): Promise<PresenceContext>;
}

let seq = 0;
const room = (): RoomKey => ({ tenantId: 'acme', room: `p-${process.pid}-${Date.now()}-${++seq}` });
const conn = (connectionId: string, userId: string, extra: Partial<PresenceConnection> = {}): PresenceConnection => ({
  connectionId: `${connectionId}-${seq}`,
  userId,
  status: 'online',
  serverId: 'srv-1',
  ...extra,
});

/** The semantics every PresenceStore implementation must have. */
export function presenceContract(name: string, factory: PresenceFactory): void {
  describe(`PresenceStore contract: ${name}`, () => {
    const TIMEOUT = 60_000;
    let ctx: PresenceContext;
    let store: PresenceStore;
    const open = async () => {
      ctx = await factory.create(TIMEOUT);
      store = ctx.store;
    };
    beforeEach(open);
    afterEach(async () => ctx.close());
    /** What a Redis restarted empty does, or, for the embedded engine, a new process. */
    const lose = async () => {
      if (ctx.wipe) return ctx.wipe();
      await ctx.close();
      await open();
    };
    const tenant = () => `t${process.pid}-${++seq}`;
    const names = async (tenantId: string, query: { prefix?: string; after?: string; limit: number }, now: number) => {
      const page = await store.rooms(tenantId, query, now);
      return { rooms: page.rooms.map((o) => o.room), next: page.next };
    };

    it('announces a join for the first connection and lists the user', async () => {
      const key = room();
      const now = Date.now();
      const change = await store.join(key, conn('c1', 'alice', { metadata: { tab: 1 } }), now);
      expect(change).toEqual({ kind: 'join', key, room: 'occupied', user: { userId: 'alice', status: 'online', lastSeen: now, connections: 1, metadata: { tab: 1 } } });
      expect(await store.list(key, now)).toEqual([{ userId: 'alice', status: 'online', lastSeen: now, connections: 1, metadata: { tab: 1 } }]);
    });

    it('aggregates two connections of one user into one entry and leaves after the last', async () => {
      const key = room();
      const now = Date.now();
      const a = conn('c1', 'alice');
      const b = conn('c2', 'alice');
      await store.join(key, a, now);
      const second = await store.join(key, b, now + 1);
      expect(second).toMatchObject({ kind: 'update', user: { userId: 'alice', connections: 2, lastSeen: now + 1 } });
      expect(await store.list(key, now + 2)).toHaveLength(1);
      const firstLeave = await store.leave(key, a.connectionId, now + 3);
      expect(firstLeave).toMatchObject({ kind: 'update', user: { userId: 'alice', connections: 1 } });
      expect(await store.leave(key, b.connectionId, now + 4)).toEqual({ kind: 'leave', key, userId: 'alice', room: 'vacated' });
      expect(await store.list(key, now + 5)).toEqual([]);
      expect(await store.leave(key, b.connectionId, now + 6)).toEqual({ kind: 'none', key });
    });

    it('keeps users and rooms and tenants apart', async () => {
      const key = room();
      const other: RoomKey = { tenantId: 'globex', room: key.room };
      const now = Date.now();
      await store.join(key, conn('c1', 'alice'), now);
      await store.join(key, conn('c2', 'bob'), now);
      await store.join(other, conn('c3', 'carol'), now);
      expect((await store.list(key, now)).map((p) => p.userId).sort()).toEqual(['alice', 'bob']);
      expect((await store.list(other, now)).map((p) => p.userId)).toEqual(['carol']);
    });

    it('changes status in every room of the connection and reports changed entries only', async () => {
      const k1 = room();
      const k2 = room();
      const now = Date.now();
      const a = conn('c1', 'alice');
      await store.join(k1, a, now);
      await store.join(k2, a, now);
      await store.join(k1, conn('c2', 'bob'), now);
      const changes = await store.setStatus([k1, k2], a.connectionId, 'away', { note: 'lunch' }, now + 10);
      expect(changes).toHaveLength(2);
      for (const c of changes) expect(c).toMatchObject({ kind: 'update', user: { userId: 'alice', status: 'away', metadata: { note: 'lunch' } } });
      const same = await store.setStatus([k1, k2], a.connectionId, 'away', undefined, now + 20);
      expect(same.every((c) => c.kind === 'none')).toBe(true);
      const list = await store.list(k1, now + 30);
      expect(list.find((p) => p.userId === 'bob')?.status).toBe('online');
    });

    it('aggregates status: busy wins, then the most available', async () => {
      const key = room();
      const now = Date.now();
      const a = conn('c1', 'alice');
      const b = conn('c2', 'alice');
      await store.join(key, a, now);
      await store.join(key, b, now);
      await store.setStatus([key], a.connectionId, 'away', undefined, now);
      expect((await store.list(key, now))[0]?.status).toBe('online');
      await store.setStatus([key], b.connectionId, 'offline', undefined, now);
      expect((await store.list(key, now))[0]?.status).toBe('away');
      await store.setStatus([key], b.connectionId, 'busy', undefined, now);
      expect((await store.list(key, now))[0]?.status).toBe('busy');
    });

    it('expires entries not refreshed on sweep, once, and keeps refreshed ones', async () => {
      const key = room();
      const now = Date.now();
      const a = conn('c1', 'alice');
      const b = conn('c2', 'bob');
      await store.join(key, a, now);
      await store.join(key, b, now);
      expect(await store.upsert([{ key, conn: b }], now + TIMEOUT - 1000)).toEqual([]);
      const later = now + TIMEOUT + 500;
      expect((await store.list(key, later)).map((p) => p.userId)).toEqual(['bob']);
      const changes = await store.sweep(later);
      expect(changes).toEqual([{ kind: 'leave', key, userId: 'alice' }]);
      expect(await store.sweep(later)).toEqual([]);
      expect((await store.list(key, later)).map((p) => p.userId)).toEqual(['bob']);
    });

    it('reports a room occupied by the join that finds it empty and vacated by the leave or sweep that empties it, once', async () => {
      const key = room();
      const now = Date.now();
      const joins = await Promise.all([0, 1, 2, 3].map((i) => store.join(key, conn(`c${i}`, `user${i}`), now)));
      expect(joins.filter((c) => c.kind === 'join' && c.room === 'occupied')).toHaveLength(1);
      const b = conn('c9', 'bob');
      await store.join(key, b, now + TIMEOUT - 100);
      const later = now + TIMEOUT + 1;
      const swept = (await Promise.all([store.sweep(later), store.sweep(later)])).flat().filter((c) => c.key.room === key.room);
      expect(swept.filter((c) => c.kind === 'leave')).toHaveLength(4);
      expect(swept.some((c) => c.kind === 'leave' && c.room !== undefined)).toBe(false);
      expect(await store.leave(key, b.connectionId, later)).toEqual({ kind: 'leave', key, userId: 'bob', room: 'vacated' });
      const again = await store.join(key, conn('c10', 'carol'), later);
      expect(again).toMatchObject({ kind: 'join', room: 'occupied' });
      const gone = await store.sweep(later + 2 * TIMEOUT);
      expect(gone.filter((c) => c.key.room === key.room)).toEqual([{ kind: 'leave', key, userId: 'carol', room: 'vacated' }]);
    });

    it('announces each expiry once when sweeps run concurrently', async () => {
      const key = room();
      const now = Date.now();
      for (let i = 0; i < 5; i++) await store.join(key, conn(`c${i}`, `user${i}`), now);
      const later = now + TIMEOUT + 1;
      const all = (await Promise.all([store.sweep(later), store.sweep(later), store.sweep(later)])).flat();
      expect(all.filter((c) => c.kind === 'leave' && c.key.room === key.room)).toHaveLength(5);
    });

    it('upserts: creates a missing entry as a restore, overwrites what differs, and only refreshes what is equal', async () => {
      const key = room();
      const now = Date.now();
      const a = conn('c1', 'alice', { metadata: { tab: 1 } });
      expect(await store.upsert([{ key, conn: a }], now)).toEqual([
        { kind: 'restore', key, user: { userId: 'alice', status: 'online', lastSeen: now, connections: 1, metadata: { tab: 1 } } },
      ]);
      expect(await store.upsert([{ key, conn: a }], now + 1)).toEqual([]);
      expect((await store.list(key, now + 2))[0]?.lastSeen).toBe(now + 1);
      // Another connection of the user, and a changed status: updates of the user's entry, one per user and room.
      const b = conn('c2', 'alice');
      const changes = await store.upsert([{ key, conn: { ...a, status: 'busy' } }, { key, conn: b }], now + 3);
      expect(changes).toEqual([{ kind: 'update', key, user: { userId: 'alice', status: 'busy', lastSeen: now + 3, connections: 2, metadata: { tab: 1 } } }]);
      // What a join wrote is kept when the owner asserts the same.
      const c = conn('c3', 'bob', { metadata: { role: 'lead' } });
      await store.join(key, c, now + 4);
      expect(await store.upsert([{ key, conn: c }], now + 5)).toEqual([]);
      expect(await store.list(key, now + 6)).toContainEqual({ userId: 'bob', status: 'online', lastSeen: now + 5, connections: 1, metadata: { role: 'lead' } });
      // Metadata dropped by its owner is dropped from the entry.
      const { metadata: _dropped, ...plain } = a;
      await store.upsert([{ key, conn: { ...plain, status: 'busy' } }, { key, conn: b }], now + 7);
      expect((await store.list(key, now + 8)).find((p) => p.userId === 'alice')?.metadata).toBeUndefined();
    });

    it('comes back whole from its owners\' upserts after losing everything: entries, occupancy, the room index, the rooms of a connection', async () => {
      const tenantId = tenant();
      const r1: RoomKey = { tenantId, room: 'r1' };
      const r2: RoomKey = { tenantId, room: 'r2' };
      const now = Date.now();
      const alice = conn('c1', 'alice', { metadata: { role: 'lead' } });
      const alice2 = conn('c2', 'alice', { status: 'away' });
      const bob = conn('c3', 'bob', { status: 'busy' });
      const owned: PresenceAssertion[] = [
        { key: r1, conn: alice },
        { key: r2, conn: alice },
        { key: r1, conn: alice2 },
        { key: r1, conn: bob },
      ];
      for (const { key, conn: c } of owned) await store.join(key, c, now);
      const before = { r1: await store.list(r1, now), r2: await store.list(r2, now), occupancy: await store.occupancy(r1, now) };
      await lose();
      expect(await store.list(r1, now)).toEqual([]);
      expect((await store.rooms(tenantId, { limit: 10 }, now)).rooms).toEqual([]);
      expect(await store.roomsOf(alice.connectionId, now)).toEqual([]);

      const changes = await store.upsert(owned, now);
      expect(changes.map((c) => `${c.kind} ${c.key.room} ${c.kind === 'restore' ? c.user.userId : ''}`).sort()).toEqual(['restore r1 alice', 'restore r1 bob', 'restore r2 alice']);
      const sortUsers = (list: { userId: string }[]) => [...list].sort((x, y) => x.userId.localeCompare(y.userId));
      expect(sortUsers(await store.list(r1, now))).toEqual(sortUsers(before.r1));
      expect(await store.list(r2, now)).toEqual(before.r2);
      expect(await store.occupancy(r1, now)).toEqual(before.occupancy);
      expect(await names(tenantId, { limit: 10 }, now)).toEqual({ rooms: ['r1', 'r2'], next: undefined });
      expect(await store.roomsOf(alice.connectionId, now)).toEqual(['r1', 'r2']);
      // Healed entries expire and are swept like any other.
      expect((await store.sweep(now + TIMEOUT + 1)).filter((c) => c.kind === 'leave')).toHaveLength(3);
    });

    it('counts a room\'s live connections and users, the users by their aggregated status', async () => {
      const key = room();
      const now = Date.now();
      expect(await store.occupancy(key, now)).toEqual({ room: key.room, connections: 0, users: 0, byStatus: { online: 0, away: 0, busy: 0, offline: 0 } });
      await store.join(key, conn('c1', 'alice'), now);
      await store.join(key, conn('c2', 'alice', { status: 'away' }), now);
      await store.join(key, conn('c3', 'bob', { status: 'away' }), now);
      await store.join(key, conn('c4', 'carol', { status: 'offline' }), now);
      await store.join(key, conn('c5', 'dave', { status: 'busy' }), now);
      await store.join(key, conn('c6', 'erin'), now - TIMEOUT);
      expect(await store.occupancy(key, now)).toEqual({ room: key.room, connections: 5, users: 4, byStatus: { online: 1, away: 1, busy: 1, offline: 1 } });
    });

    it('lists a tenant\'s rooms with live presence by name, a page at a time, with a prefix', async () => {
      const tenantId = tenant();
      const now = Date.now();
      const rooms = ['doc:3', 'chat:b', 'doc:1', 'chat:a', 'doc:2', 'doc:10'];
      for (const [i, r] of rooms.entries()) await store.join({ tenantId, room: r }, conn(`c${i}`, `user${i}`), now);
      await store.join({ tenantId: `${tenantId}-other`, room: 'doc:0' }, conn('x', 'zed'), now);
      expect(await names(tenantId, { limit: 10 }, now)).toEqual({ rooms: ['chat:a', 'chat:b', 'doc:1', 'doc:10', 'doc:2', 'doc:3'], next: undefined });
      expect(await names(tenantId, { prefix: 'doc:', limit: 2 }, now)).toEqual({ rooms: ['doc:1', 'doc:10'], next: 'doc:10' });
      expect(await names(tenantId, { prefix: 'doc:', after: 'doc:10', limit: 2 }, now)).toEqual({ rooms: ['doc:2', 'doc:3'], next: undefined });
      expect(await names(tenantId, { after: 'chat:b', limit: 1 }, now)).toEqual({ rooms: ['doc:1'], next: 'doc:1' });
      expect(await names(tenantId, { prefix: 'nothing', limit: 5 }, now)).toEqual({ rooms: [], next: undefined });
      const page = await store.rooms(tenantId, { prefix: 'chat:a', limit: 5 }, now);
      expect(page.rooms).toEqual([{ room: 'chat:a', connections: 1, users: 1, byStatus: { online: 1, away: 0, busy: 0, offline: 0 } }]);
      // A limit out of range is brought into it.
      expect((await names(tenantId, { limit: 0 }, now)).rooms).toEqual(['chat:a']);
    });

    it('leaves rooms out of the listing once their last entry leaves or expires', async () => {
      const tenantId = tenant();
      const now = Date.now();
      const a = conn('c1', 'alice');
      const b = conn('c2', 'bob');
      await store.join({ tenantId, room: 'left' }, a, now);
      await store.join({ tenantId, room: 'expired' }, b, now);
      await store.join({ tenantId, room: 'kept' }, b, now);
      await store.leave({ tenantId, room: 'left' }, a.connectionId, now + 1);
      expect((await names(tenantId, { limit: 10 }, now + 2)).rooms).toEqual(['expired', 'kept']);
      await store.upsert([{ key: { tenantId, room: 'kept' }, conn: b }], now + TIMEOUT - 1);
      // Expired but not swept yet: already not listed, since it has nobody live.
      expect((await names(tenantId, { limit: 10 }, now + TIMEOUT + 1)).rooms).toEqual(['kept']);
      await store.sweep(now + TIMEOUT + 1);
      expect((await names(tenantId, { limit: 10 }, now + TIMEOUT + 2)).rooms).toEqual(['kept']);
      expect(await store.roomsOf(b.connectionId, now + TIMEOUT + 2)).toEqual(['kept']);
      expect(await store.roomsOf(a.connectionId, now + TIMEOUT + 2)).toEqual([]);
    });
  });
}
