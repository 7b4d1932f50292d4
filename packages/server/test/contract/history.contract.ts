import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HistoryStore, Retention, RoomKey } from '../../src/engine/types.js';

export interface HistoryFactory {
  create(retention: Retention): Promise<{ store: HistoryStore; close(): Promise<void>; wipe?(): Promise<void> }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const base: Retention = { ttlSeconds: 3600, maxMessages: 1000, dedupeWindowSeconds: 300 };
let seq = 0;
const room = (): RoomKey => ({ tenantId: 'acme', room: `room-${process.pid}-${Date.now()}-${++seq}` });
const msg = (payload: unknown, clientMessageId?: string) => ({
  from: 'alice',
  payload,
  timestamp: Date.now(),
  ...(clientMessageId ? { clientMessageId } : {}),
});

/** The semantics every HistoryStore implementation must have. */
export function historyContract(name: string, factory: HistoryFactory): void {
  describe(`HistoryStore contract: ${name}`, () => {
    let ctx: Awaited<ReturnType<HistoryFactory['create']>>;
    let store: HistoryStore;
    const open = async (r: Partial<Retention> = {}) => {
      ctx = await factory.create({ ...base, ...r });
      store = ctx.store;
    };
    beforeEach(async () => open());
    afterEach(async () => ctx.close());

    it('assigns equal-length ids that increase in append order', async () => {
      const key = room();
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await store.append(key, msg(i), { persistent: i % 2 === 0 })).message.id);
      expect(new Set(ids.map((i) => i.length)).size).toBe(1);
      expect([...ids].sort()).toEqual(ids);
      expect(new Set(ids).size).toBe(20);
    });

    it('reports the newest id of a room as its head, volatile ones included', async () => {
      const key = room();
      await store.append(key, msg(1), { persistent: true });
      const v = await store.append(key, msg(2), { persistent: false });
      expect(await store.head(key)).toBe(v.message.id);
    });

    it('gives a room without history a head from which its first messages are recovered', async () => {
      const key = room();
      const head = await store.head(key);
      expect(await store.head(key)).toBe(head);
      const first = await store.append(key, msg('first'), { persistent: true });
      expect(first.message.id > head).toBe(true);
      expect(first.message.id.length).toBe(head.length);
      const page = await store.read(key, { since: head, limit: 10 });
      expect(page).toEqual({ messages: [first.message], hasMore: false, recovered: true });
    });

    it('keeps append order under concurrent appends', async () => {
      const key = room();
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(key, msg(i), { persistent: true })));
      const page = await store.read(key, { limit: 1000 });
      expect(page.messages.map((m) => m.id)).toEqual(results.map((r) => r.message.id).sort());
    });

    it('stores persistent messages only, oldest first, with their fields', async () => {
      const key = room();
      const a = await store.append(key, msg({ text: 'a' }), { persistent: true });
      await store.append(key, msg({ text: 'volatile' }), { persistent: false });
      const c = await store.append(key, msg({ text: 'c', nested: [1, { x: null }] }), { persistent: true });
      const page = await store.read(key, { limit: 100 });
      expect(page).toMatchObject({ hasMore: false, recovered: true });
      expect(page.messages).toEqual([a.message, c.message]);
      expect(page.messages[1]).toMatchObject({ room: key.room, from: 'alice', payload: { text: 'c', nested: [1, { x: null }] }, persistent: true });
    });

    it('keeps tenants and rooms apart', async () => {
      const key = room();
      const other: RoomKey = { tenantId: 'globex', room: key.room };
      await store.append(key, msg('acme'), { persistent: true });
      await store.append(other, msg('globex'), { persistent: true });
      expect((await store.read(key, { limit: 10 })).messages.map((m) => m.payload)).toEqual(['acme']);
      expect((await store.read(other, { limit: 10 })).messages.map((m) => m.payload)).toEqual(['globex']);
    });

    it('pages with since and limit, reporting hasMore', async () => {
      const key = room();
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) ids.push((await store.append(key, msg(i), { persistent: true })).message.id);
      const p1 = await store.read(key, { limit: 10 });
      expect(p1.messages.map((m) => m.payload)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(p1.hasMore).toBe(true);
      const p2 = await store.read(key, { since: ids[9], limit: 10 });
      expect(p2.messages.map((m) => m.payload)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
      expect(p2).toMatchObject({ hasMore: true, recovered: true });
      const p3 = await store.read(key, { since: ids[19], limit: 10 });
      expect(p3.messages.map((m) => m.payload)).toEqual([20, 21, 22, 23, 24]);
      expect(p3).toMatchObject({ hasMore: false, recovered: true });
      const p4 = await store.read(key, { since: ids[24], limit: 10 });
      expect(p4).toEqual({ messages: [], hasMore: false, recovered: true });
    });

    it('recovers from a volatile message id', async () => {
      const key = room();
      const v = await store.append(key, msg('v'), { persistent: false });
      await store.append(key, msg('p'), { persistent: true });
      const page = await store.read(key, { since: v.message.id, limit: 10 });
      expect(page).toMatchObject({ recovered: true, hasMore: false });
      expect(page.messages.map((m) => m.payload)).toEqual(['p']);
    });

    it('trims to maxMessages and reports recovered: false past the trimmed point', async () => {
      await ctx.close();
      await open({ maxMessages: 5 });
      const key = room();
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) ids.push((await store.append(key, msg(i), { persistent: true })).message.id);
      const all = await store.read(key, { limit: 100 });
      expect(all.messages.map((m) => m.payload)).toEqual([7, 8, 9, 10, 11]);
      const lost = await store.read(key, { since: ids[2], limit: 100 });
      expect(lost.recovered).toBe(false);
      expect(lost.messages.map((m) => m.payload)).toEqual([7, 8, 9, 10, 11]);
      const edge = await store.read(key, { since: ids[6], limit: 100 });
      expect(edge.recovered).toBe(true);
      expect(edge.messages.map((m) => m.payload)).toEqual([7, 8, 9, 10, 11]);
    });

    it('keeps exactly the newest maxMessages through a long run of appends past the limit', async () => {
      await ctx.close();
      await open({ maxMessages: 7 });
      const key = room();
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) {
        ids.push((await store.append(key, msg(i), { persistent: true })).message.id);
        const newest = Array.from({ length: Math.min(i + 1, 7) }, (_, k) => i + 1 - Math.min(i + 1, 7) + k);
        const all = await store.read(key, { limit: 100 });
        expect(all.messages.map((m) => m.payload)).toEqual(newest);
        // Paged from the oldest kept message: the rest, 3 at a time.
        const first = await store.read(key, { since: ids[newest[0]!], limit: 3 });
        expect(first.recovered).toBe(true);
        expect(first.messages.map((m) => m.payload)).toEqual(newest.slice(1, 4));
        expect(first.hasMore).toBe(newest.length > 4);
      }
      expect((await store.read(key, { since: ids[51], limit: 10 })).recovered).toBe(false);
      expect((await store.read(key, { since: ids[52], limit: 10 })).recovered).toBe(true);
    });

    it('expires messages after ttlSeconds', async () => {
      await ctx.close();
      await open({ ttlSeconds: 1 });
      const key = room();
      const first = await store.append(key, msg('old'), { persistent: true });
      await sleep(1300);
      await store.append(key, msg('new'), { persistent: true });
      const page = await store.read(key, { limit: 10 });
      expect(page.messages.map((m) => m.payload)).toEqual(['new']);
      const before = await store.read(key, { since: formatBefore(first.message.id), limit: 10 });
      expect(before.recovered).toBe(false);
    });

    it('expires a long run of messages at once and keeps the ones still within ttlSeconds', async () => {
      await ctx.close();
      await open({ ttlSeconds: 1, maxMessages: 1000 });
      const key = room();
      for (let i = 0; i < 250; i++) await store.append(key, msg(`old${i}`), { persistent: true });
      await sleep(1300);
      const kept = await store.append(key, msg('new'), { persistent: true });
      const page = await store.read(key, { limit: 300 });
      expect(page.messages.map((m) => m.payload)).toEqual(['new']);
      expect(page.messages[0]?.id).toBe(kept.message.id);
    });

    it('reports recovered: false for an unknown epoch, a malformed since, or an unknown room', async () => {
      const key = room();
      const a = await store.append(key, msg('a'), { persistent: true });
      const otherEpoch = a.message.id.replace(/-[a-z0-9]{8}$/, '-zzzzzzzz');
      const foreign = await store.read(key, { since: otherEpoch, limit: 10 });
      expect(foreign.recovered).toBe(false);
      expect(foreign.messages.map((m) => m.payload)).toEqual(['a']);
      expect((await store.read(key, { since: 'garbage', limit: 10 })).recovered).toBe(false);
      expect((await store.read(room(), { since: a.message.id, limit: 10 })).recovered).toBe(false);
    });

    it('detects a lost history by its new epoch, with ids still increasing', async () => {
      if (!ctx.wipe) {
        // A memory store's history is lost with its process: a new store is a new history.
        const key = room();
        const a = await store.append(key, msg('a'), { persistent: true });
        await ctx.close();
        // A new history's sequence starts from the clock: a restart takes longer than this.
        await sleep(5);
        await open();
        const b = await store.append(key, msg('b'), { persistent: true });
        expect(b.message.id > a.message.id).toBe(true);
        expect((await store.read(key, { since: a.message.id, limit: 10 })).recovered).toBe(false);
        return;
      }
      const key = room();
      const a = await store.append(key, msg('a'), { persistent: true });
      await ctx.wipe();
      await sleep(5);
      const b = await store.append(key, msg('b'), { persistent: true });
      expect(b.message.id > a.message.id).toBe(true);
      const page = await store.read(key, { since: a.message.id, limit: 10 });
      expect(page.recovered).toBe(false);
      expect(page.messages.map((m) => m.payload)).toEqual(['b']);
    });

    it('drops a repeated clientMessageId within the window and returns the first message', async () => {
      const key = room();
      const first = await store.append(key, msg('x', 'c-1'), { persistent: true });
      const again = await store.append(key, msg('x', 'c-1'), { persistent: true });
      expect(first.duplicate).toBe(false);
      expect(again.duplicate).toBe(true);
      expect(again.message.id).toBe(first.message.id);
      const other = await store.append(key, { ...msg('x', 'c-1'), from: 'bob' }, { persistent: true });
      expect(other.duplicate).toBe(false);
      expect((await store.read(key, { limit: 10 })).messages).toHaveLength(2);
    });

    it('forgets a clientMessageId after the window', async () => {
      await ctx.close();
      await open({ dedupeWindowSeconds: 1 });
      const key = room();
      await store.append(key, msg('x', 'c-2'), { persistent: false });
      await sleep(1300);
      expect((await store.append(key, msg('x', 'c-2'), { persistent: false })).duplicate).toBe(false);
    });
  });
}

/** An id of the same epoch one sequence step before the given one. */
function formatBefore(id: string): string {
  const [seq, epoch] = id.split('-') as [string, string];
  return `${String(Number(seq) - 1).padStart(seq.length, '0')}-${epoch}`;
}
