import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConnectionRecord, ConnectionRegistry, RevocationStore } from '../../src/engine/types.js';

export interface ConnectionsContext {
  registry: ConnectionRegistry;
  /** The engine's revocation store the registry checks tokens against. */
  revocations: RevocationStore;
  close(): Promise<void>;
  /** The shared store loses every key (a Redis restarted without persistence); absent for the embedded engine. */
  wipe?(): Promise<void>;
}

export interface ConnectionsFactory {
  /** A registry whose records stop counting `staleMs` after their last refresh. */
  create(staleMs: number): Promise<ConnectionsContext>;
}

const STALE = 120_000;
let seq = 0;

/** The semantics every ConnectionRegistry implementation must have (connections per user, who is connected where). */
export function connectionsContract(name: string, factory: ConnectionsFactory): void {
  describe(`ConnectionRegistry contract: ${name}`, () => {
    let ctx: ConnectionsContext;
    let registry: ConnectionRegistry;
    let tenantId: string;
    const open = async () => {
      ctx = await factory.create(STALE);
      registry = ctx.registry;
    };
    beforeEach(async () => {
      tenantId = `t${process.pid}-${++seq}`;
      await open();
    });
    afterEach(async () => ctx.close());

    const rec = (connectionId: string, userId = 'alice', extra: Partial<ConnectionRecord> = {}): ConnectionRecord => ({
      tenantId,
      userId,
      connectionId,
      serverId: 'srv-1',
      connectedAt: 1_700_000_000_000 + Number(connectionId.replace(/\D/g, '') || 0),
      ...extra,
    });
    /** What a Redis restarted empty does, or, for the embedded engine, a new process. */
    const revocationsOf = () => ctx.revocations;
    const lose = async () => {
      if (ctx.wipe) return ctx.wipe();
      await ctx.close();
      await open();
    };

    it('holds at most max connections, says which is the first and which the last, and frees a place on release', async () => {
      const now = Date.now();
      expect(await registry.acquire(rec('c1'), 2, now)).toEqual({ held: true, first: true });
      // Registering a connection again refreshes it and counts it once.
      expect(await registry.acquire(rec('c1'), 2, now)).toEqual({ held: true, first: true });
      expect(await registry.acquire(rec('c2'), 2, now)).toEqual({ held: true, first: false });
      expect(await registry.acquire(rec('c3'), 2, now)).toEqual({ held: false, first: false });
      expect(await registry.release(rec('c1'), now)).toEqual({ last: false });
      expect(await registry.acquire(rec('c3'), 2, now)).toEqual({ held: true, first: false });
      expect(await registry.acquire(rec('c1'), 2, now)).toEqual({ held: false, first: false });
      // Releasing what is not registered changes nothing.
      expect(await registry.release(rec('nobody'), now)).toEqual({ last: false });
      expect(await registry.acquire(rec('c4'), 2, now)).toMatchObject({ held: false });
      expect(await registry.release(rec('c2'), now)).toEqual({ last: false });
      expect(await registry.release(rec('c3'), now)).toEqual({ last: true });
      expect(await registry.list(tenantId, 'alice', now)).toEqual([]);
    });

    it("removes a dead instance's records of a user, reporting the last connection once among concurrent calls", async () => {
      const now = Date.now();
      await registry.acquire(rec('c1', 'alice', { serverId: 'dead' }), 0, now);
      await registry.acquire(rec('c2', 'alice', { serverId: 'dead' }), 0, now);
      await registry.acquire(rec('c3', 'bob', { serverId: 'dead' }), 0, now);
      await registry.acquire(rec('c4', 'bob', { serverId: 'alive' }), 0, now);
      const alice = await Promise.all([0, 1, 2].map(() => registry.releaseServer(tenantId, 'alice', 'dead', now)));
      expect(alice.filter((r) => r.last)).toHaveLength(1);
      expect(alice.reduce((n, r) => n + r.removed, 0)).toBe(2);
      expect(await registry.list(tenantId, 'alice', now)).toEqual([]);
      expect(await registry.releaseServer(tenantId, 'bob', 'dead', now)).toEqual({ removed: 1, last: false });
      expect((await registry.list(tenantId, 'bob', now)).map((r) => r.connectionId)).toEqual(['c4']);
      expect(await registry.releaseServer(tenantId, 'nobody', 'dead', now)).toEqual({ removed: 0, last: false });
    });

    it('keeps the cap under concurrent acquires, with exactly one first', async () => {
      const now = Date.now();
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => registry.acquire(rec(`c${i}`), 7, now)));
      expect(results.filter((r) => r.held)).toHaveLength(7);
      expect(results.filter((r) => r.first)).toHaveLength(1);
      const released = await Promise.all(Array.from({ length: 100 }, (_, i) => registry.release(rec(`c${i}`), now)));
      expect(released.filter((r) => r.last).length).toBeGreaterThanOrEqual(1);
      expect(await registry.acquire(rec('again'), 1, now)).toEqual({ held: true, first: true });
    });

    it('refuses a revoked token without registering it; the cap is decided first', async () => {
      const now = Date.now();
      await revocationsOf().revoke(tenantId, 'alice', now, now + 60_000);
      const revoked = { held: false, first: false, revoked: true };
      expect(await registry.acquire(rec('c1'), 2, now, { issuedAt: now - 1000 })).toEqual(revoked);
      // Without `iat` nothing shows the token was issued after the revocation.
      expect(await registry.acquire(rec('c2'), 2, now, { issuedAt: undefined })).toEqual(revoked);
      expect(await registry.list(tenantId, 'alice', now)).toEqual([]);
      // A token issued at or after the revocation time is held, and so is a connection acquired without a token to check.
      expect(await registry.acquire(rec('c3'), 2, now, { issuedAt: now })).toEqual({ held: true, first: true });
      expect(await registry.acquire(rec('c4'), 2, now)).toEqual({ held: true, first: false });
      // At the cap, a revoked token is refused for the cap.
      expect(await registry.acquire(rec('c5'), 2, now, { issuedAt: now - 1000 })).toEqual({ held: false, first: false });
      expect((await registry.list(tenantId, 'alice', now)).map((r) => r.connectionId)).toEqual(['c3', 'c4']);
      // Another user's and another tenant's tokens are not revoked.
      expect(await registry.acquire(rec('b1', 'bob'), 2, now, { issuedAt: now - 1000 })).toEqual({ held: true, first: true });
      expect(await registry.acquire(rec('z1', 'alice', { tenantId: `${tenantId}-other` }), 2, now, { issuedAt: now - 1000 })).toEqual({ held: true, first: true });
    });

    it('decides acquires made together in turn: two at the cap hold one place, a revoked one holds none', async () => {
      const now = Date.now();
      await revocationsOf().revoke(tenantId, 'carol', now, now + 60_000);
      const results = await Promise.all([
        registry.acquire(rec('a1'), 1, now, { issuedAt: now }),
        registry.acquire(rec('a2'), 1, now, { issuedAt: now }),
        registry.acquire(rec('c1', 'carol'), 1, now, { issuedAt: now - 1 }),
        registry.acquire(rec('b1', 'bob'), 0, now, { issuedAt: now }),
        registry.acquire(rec('b2', 'bob'), 0, now),
      ]);
      const [a1, a2, c1, b1, b2] = results;
      expect([a1, a2].filter((r) => r?.held)).toHaveLength(1);
      expect([a1, a2].filter((r) => r?.first)).toHaveLength(1);
      expect(await registry.list(tenantId, 'alice', now)).toHaveLength(1);
      expect(c1).toEqual({ held: false, first: false, revoked: true });
      expect(await registry.list(tenantId, 'carol', now)).toEqual([]);
      expect([b1?.held, b2?.held]).toEqual([true, true]);
      expect([b1, b2].filter((r) => r?.first)).toHaveLength(1);
      // Released together, in turn: exactly the last of each user says so.
      const held = [a1?.held ? 'a1' : 'a2'];
      const released = await Promise.all([...held.map((id) => registry.release(rec(id), now)), registry.release(rec('b1', 'bob'), now), registry.release(rec('b2', 'bob'), now)]);
      expect(released.map((r) => r.last)).toEqual([true, false, true]);
    });

    it('limits nothing with max 0, and keeps users and tenants apart', async () => {
      const now = Date.now();
      for (let i = 0; i < 30; i++) expect((await registry.acquire(rec(`c${i}`), 0, now)).held).toBe(true);
      expect(await registry.list(tenantId, 'alice', now)).toHaveLength(30);
      expect(await registry.acquire(rec('x', 'bob'), 1, now)).toEqual({ held: true, first: true });
      expect(await registry.acquire(rec('y', 'bob'), 1, now)).toEqual({ held: false, first: false });
      expect(await registry.acquire(rec('z', 'bob', { tenantId: `${tenantId}-other` }), 1, now)).toEqual({ held: true, first: true });
      expect(await registry.list(tenantId, 'bob', now)).toEqual([rec('x', 'bob')]);
    });

    it('lists a user\'s live connections with their records, oldest first', async () => {
      const now = Date.now();
      await registry.acquire(rec('c2', 'alice', { serverId: 'srv-b' }), 0, now);
      await registry.acquire(rec('c1', 'alice', { serverId: 'srv-a' }), 0, now);
      expect(await registry.list(tenantId, 'alice', now)).toEqual([rec('c1', 'alice', { serverId: 'srv-a' }), rec('c2', 'alice', { serverId: 'srv-b' })]);
      expect(await registry.list(tenantId, 'nobody', now)).toEqual([]);
    });

    it('stops counting records no longer refreshed, and keeps refreshed ones', async () => {
      const t0 = Date.now();
      await registry.acquire(rec('dead'), 2, t0);
      await registry.acquire(rec('alive'), 2, t0);
      await registry.touch([rec('alive')], t0 + STALE - 1000);
      expect((await registry.acquire(rec('new'), 2, t0 + STALE - 500)).held).toBe(false);
      // 'dead' was refreshed at t0: it no longer counts after t0 + STALE; 'alive' does.
      const later = t0 + STALE + 500;
      expect((await registry.list(tenantId, 'alice', later)).map((r) => r.connectionId)).toEqual(['alive']);
      expect(await registry.acquire(rec('new'), 2, later)).toEqual({ held: true, first: false });
      expect((await registry.acquire(rec('other'), 2, later)).held).toBe(false);
      expect(await registry.release(rec('alive'), later)).toEqual({ last: false });
      expect(await registry.release(rec('new'), later)).toEqual({ last: true });
    });

    it('re-creates lost records from their owners\' touch, so the cap holds again and nothing goes below zero', async () => {
      const now = Date.now();
      expect((await registry.acquire(rec('c1'), 2, now)).held).toBe(true);
      expect((await registry.acquire(rec('c2'), 2, now)).held).toBe(true);
      await lose();
      expect(await registry.list(tenantId, 'alice', now)).toEqual([]);
      // The owner of c1 closed it meanwhile: releasing a lost record removes nothing and counts nothing.
      expect(await registry.release(rec('c1'), now)).toEqual({ last: true });
      // The owner of c2 re-asserts it.
      await registry.touch([rec('c2')], now + 1);
      expect(await registry.list(tenantId, 'alice', now + 1)).toEqual([rec('c2')]);
      expect(await registry.acquire(rec('c3'), 2, now + 2)).toEqual({ held: true, first: false });
      expect(await registry.acquire(rec('c4'), 2, now + 2)).toEqual({ held: false, first: false });
    });

    it('a touch of several users drops the records nobody refreshed of each of them', async () => {
      const t0 = Date.now();
      await registry.acquire(rec('a-dead'), 0, t0);
      await registry.acquire(rec('b-dead', 'bob'), 0, t0);
      const later = t0 + STALE + 500;
      await registry.touch([rec('a-new'), rec('b-new', 'bob')], later);
      expect((await registry.list(tenantId, 'alice', later)).map((r) => r.connectionId)).toEqual(['a-new']);
      expect((await registry.list(tenantId, 'bob', later)).map((r) => r.connectionId)).toEqual(['b-new']);
      // Releasing the new ones leaves each user with none.
      expect(await registry.release(rec('a-new'), later)).toEqual({ last: true });
      expect(await registry.release(rec('b-new', 'bob'), later)).toEqual({ last: true });
    });

    it('registers records of several users in one touch, and a touch after a release brings the record back', async () => {
      const now = Date.now();
      await registry.touch([rec('a1'), rec('a2'), rec('b1', 'bob')], now);
      expect((await registry.list(tenantId, 'alice', now)).map((r) => r.connectionId)).toEqual(['a1', 'a2']);
      expect((await registry.list(tenantId, 'bob', now)).map((r) => r.connectionId)).toEqual(['b1']);
      // A touch is an upsert: whoever calls it after a release must release again (the maintenance round does).
      await registry.release(rec('b1', 'bob'), now);
      await registry.touch([rec('b1', 'bob')], now + 1);
      expect(await registry.list(tenantId, 'bob', now + 1)).toHaveLength(1);
      expect(await registry.release(rec('b1', 'bob'), now + 2)).toEqual({ last: true });
    });
  });
}
