import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CounterStore } from '../../src/engine/types.js';

export interface CounterFactory {
  create(): Promise<{ store: CounterStore; close(): Promise<void> }>;
}

let seq = 0;
const key = () => `conn:acme:user-${process.pid}-${Date.now()}-${++seq}`;

/** The semantics every CounterStore implementation must have (connections per user). */
export function counterContract(name: string, factory: CounterFactory): void {
  describe(`CounterStore contract: ${name}`, () => {
    let ctx: Awaited<ReturnType<CounterFactory['create']>>;
    let store: CounterStore;
    beforeEach(async () => {
      ctx = await factory.create();
      store = ctx.store;
    });
    afterEach(async () => ctx.close());

    it('holds at most max members, counts a member once, and frees a place on release', async () => {
      const k = key();
      const now = Date.now();
      expect(await store.acquire(k, 'c1', 2, now)).toBe(true);
      expect(await store.acquire(k, 'c1', 2, now)).toBe(true);
      expect(await store.acquire(k, 'c2', 2, now)).toBe(true);
      expect(await store.acquire(k, 'c3', 2, now)).toBe(false);
      await store.release(k, 'c1');
      expect(await store.acquire(k, 'c3', 2, now)).toBe(true);
      expect(await store.acquire(k, 'c1', 2, now)).toBe(false);
      // Releasing what is not held changes nothing.
      await store.release(k, 'nobody');
      expect(await store.acquire(k, 'c4', 2, now)).toBe(false);
    });

    it('keeps the cap under concurrent acquires', async () => {
      const k = key();
      const now = Date.now();
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => store.acquire(k, `c${i}`, 7, now)));
      expect(results.filter(Boolean)).toHaveLength(7);
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.release(k, `c${i}`)));
      expect(await store.acquire(k, 'again', 1, now)).toBe(true);
    });

    it('limits nothing with max 0, and keeps keys apart', async () => {
      const k = key();
      const other = key();
      const now = Date.now();
      for (let i = 0; i < 30; i++) expect(await store.acquire(k, `c${i}`, 0, now)).toBe(true);
      expect(await store.acquire(other, 'x', 1, now)).toBe(true);
      expect(await store.acquire(other, 'y', 1, now)).toBe(false);
    });

    it('keeps touched members and a released member released', async () => {
      const k = key();
      const now = Date.now();
      expect(await store.acquire(k, 'c1', 1, now)).toBe(true);
      await store.touch([{ key: k, member: 'c1' }], now + 1000);
      expect(await store.acquire(k, 'c2', 1, now + 1000)).toBe(false);
      await store.release(k, 'c1');
      await store.touch([{ key: k, member: 'c1' }], now + 2000);
      expect(await store.acquire(k, 'c2', 1, now + 2000)).toBe(true);
    });
  });
}
