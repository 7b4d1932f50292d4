import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PresenceConnection, PresenceStore, RoomKey } from '../../src/engine/types.js';

export interface PresenceFactory {
  /** A store whose entries expire `timeoutMs` after their last touch. */
  create(timeoutMs: number): Promise<{ store: PresenceStore; close(): Promise<void> }>;
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
    let ctx: Awaited<ReturnType<PresenceFactory['create']>>;
    let store: PresenceStore;
    beforeEach(async () => {
      ctx = await factory.create(TIMEOUT);
      store = ctx.store;
    });
    afterEach(async () => ctx.close());

    it('announces a join for the first connection and lists the user', async () => {
      const key = room();
      const now = Date.now();
      const change = await store.join(key, conn('c1', 'alice', { metadata: { tab: 1 } }), now);
      expect(change).toEqual({ kind: 'join', key, user: { userId: 'alice', status: 'online', lastSeen: now, connections: 1, metadata: { tab: 1 } } });
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
      expect(await store.leave(key, b.connectionId, now + 4)).toEqual({ kind: 'leave', key, userId: 'alice' });
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

    it('expires untouched entries on sweep, once, and keeps touched ones', async () => {
      const key = room();
      const now = Date.now();
      const a = conn('c1', 'alice');
      const b = conn('c2', 'bob');
      await store.join(key, a, now);
      await store.join(key, b, now);
      await store.touch([b.connectionId], now + TIMEOUT - 1000);
      const later = now + TIMEOUT + 500;
      expect((await store.list(key, later)).map((p) => p.userId)).toEqual(['bob']);
      const changes = await store.sweep(later);
      expect(changes).toEqual([{ kind: 'leave', key, userId: 'alice' }]);
      expect(await store.sweep(later)).toEqual([]);
      expect((await store.list(key, later)).map((p) => p.userId)).toEqual(['bob']);
    });

    it('announces each expiry once when sweeps run concurrently', async () => {
      const key = room();
      const now = Date.now();
      for (let i = 0; i < 5; i++) await store.join(key, conn(`c${i}`, `user${i}`), now);
      const later = now + TIMEOUT + 1;
      const all = (await Promise.all([store.sweep(later), store.sweep(later), store.sweep(later)])).flat();
      expect(all.filter((c) => c.kind === 'leave' && c.key.room === key.room)).toHaveLength(5);
    });
  });
}
