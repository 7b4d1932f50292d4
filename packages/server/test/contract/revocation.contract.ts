import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RevocationStore } from '../../src/engine/types.js';

export interface RevocationFactory {
  create(): Promise<{ store: RevocationStore; close(): Promise<void> }>;
}

let seq = 0;
const user = () => `user-${process.pid}-${Date.now()}-${++seq}`;

/** The semantics every RevocationStore implementation must have. */
export function revocationContract(name: string, factory: RevocationFactory): void {
  describe(`RevocationStore contract: ${name}`, () => {
    let ctx: Awaited<ReturnType<RevocationFactory['create']>>;
    let store: RevocationStore;
    beforeEach(async () => {
      ctx = await factory.create();
      store = ctx.store;
    });
    afterEach(async () => ctx.close());

    it('knows no revocation of a user never revoked, and keeps users and tenants apart', async () => {
      const u = user();
      const now = Date.now();
      expect(await store.revokedBefore('acme', u, now)).toBeUndefined();
      expect(await store.revoke('acme', u, now, now + 60_000)).toBe(now);
      expect(await store.revokedBefore('acme', u, now)).toBe(now);
      expect(await store.revokedBefore('globex', u, now)).toBeUndefined();
      expect(await store.revokedBefore('acme', `${u}x`, now)).toBeUndefined();
    });

    it('keeps the latest time: an earlier revocation changes nothing, a later one replaces it', async () => {
      const u = user();
      const now = Date.now();
      await store.revoke('acme', u, now, now + 60_000);
      expect(await store.revoke('acme', u, now - 5000, now + 55_000)).toBe(now);
      expect(await store.revokedBefore('acme', u, now)).toBe(now);
      expect(await store.revoke('acme', u, now + 1000, now + 61_000)).toBe(now + 1000);
      expect(await store.revokedBefore('acme', u, now)).toBe(now + 1000);
    });

    it('forgets a revocation once it expired', async () => {
      const u = user();
      const now = Date.now();
      await store.revoke('acme', u, now, now + 150);
      const deadline = Date.now() + 5000;
      while ((await store.revokedBefore('acme', u, Date.now())) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(await store.revokedBefore('acme', u, Date.now())).toBeUndefined();
      // Expired, a revocation no longer stands in the way of an earlier one.
      expect(await store.revoke('acme', u, now - 1000, Date.now() + 60_000)).toBe(now - 1000);
    });

    it('keeps the latest of concurrent revocations', async () => {
      const u = user();
      const now = Date.now();
      await Promise.all(Array.from({ length: 50 }, (_, i) => store.revoke('acme', u, now + ((i * 37) % 50), now + 60_000 + i)));
      expect(await store.revokedBefore('acme', u, now)).toBe(now + 49);
    });
  });
}
