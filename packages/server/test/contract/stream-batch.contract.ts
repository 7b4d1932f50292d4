import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RateRefusedError } from '../../src/engine/rate-refused.js';
import type { NewMessage, Published, RoomKey } from '../../src/engine/types.js';
import { until, type StreamContext, type StreamFactory, type StreamInstance } from './stream.contract.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const roomName = () => `batch-${process.pid}-${Date.now()}-${++seq}`;
const msg = (from: string, payload: unknown, clientMessageId?: string): NewMessage => ({
  from,
  payload,
  timestamp: Date.now(),
  ...(clientMessageId ? { clientMessageId } : {}),
});
const same = (a: RoomKey, b: RoomKey) => a.tenantId === b.tenantId && a.room === b.room;
const idsIn = (inst: StreamInstance, key: RoomKey) => inst.received.filter((r) => same(r.key, key)).map((r) => r.msg.id);
const settle = (p: Promise<Published>) => p.then((v) => ({ ok: v }), (err: unknown) => ({ err }));
const sorted = (ids: string[]) => [...ids].sort();

/**
 * Publishes issued within one event-loop turn (all started before any is awaited): a store may put them
 * in one write (the Redis stream does), and each must still be answered as if published on its own.
 */
export function streamBatchContract(name: string, factory: StreamFactory): void {
  describe(`RoomStream contract, publishes of one turn: ${name}`, () => {
    let ctx: StreamContext;
    beforeEach(async () => {
      ctx = await factory.create({ ttlSeconds: 3600, maxMessages: 1000, dedupeWindowSeconds: 300 });
    });
    afterEach(async () => ctx.close());

    it('gives 40 publishes to one room ids in publish order, delivers each once and stores them all', async () => {
      const { a, b } = ctx;
      const key: RoomKey = { tenantId: 'acme', room: roomName() };
      await Promise.all([a.stream.subscribe(key), b.stream.subscribe(key)]);
      const readsBefore = ctx.readsByA?.();
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => a.stream.publish(key, msg('alice', i), { persistent: true, exceptConnectionId: `c-${i}` })));
      const ids = results.map((r) => r.message.id);
      expect(results.every((r) => !r.duplicate)).toBe(true);
      expect(sorted(ids)).toEqual(ids);
      expect(new Set(ids).size).toBe(40);
      expect(results.map((r) => r.message.payload)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      await until(() => idsIn(a, key).length >= 40 && idsIn(b, key).length >= 40, 'the 40 messages on both instances');
      await sleep(100);
      expect(idsIn(a, key)).toEqual(ids);
      expect(idsIn(b, key)).toEqual(ids);
      // Each published message names the one before it: delivery found no gap to fill from history.
      expect(ctx.readsByA?.()).toBe(readsBefore);
      expect(b.received.filter((r) => same(r.key, key)).map((r) => r.except)).toEqual(Array.from({ length: 40 }, (_, i) => `c-${i}`));
      const page = await b.stream.read(key, { limit: 100 });
      expect(page.messages).toEqual(results.map((r) => r.message));
      expect(await a.stream.head(key)).toBe(ids[39]);
    });

    it('keeps order and history per room over 600 publishes in one turn, volatile ones among them', async () => {
      const { a, b } = ctx;
      const keys: RoomKey[] = [
        { tenantId: 'acme', room: roomName() },
        { tenantId: 'acme', room: roomName() },
      ];
      await Promise.all(keys.map((k) => b.stream.subscribe(k)));
      const results = await Promise.all(Array.from({ length: 600 }, (_, i) => a.stream.publish(keys[i % 2] as RoomKey, msg('alice', i), { persistent: i % 5 !== 0 })));
      for (const [r, key] of keys.entries()) {
        const mine = results.filter((_, i) => i % 2 === r);
        const ids = mine.map((p) => p.message.id);
        expect(sorted(ids)).toEqual(ids);
        expect(new Set(ids).size).toBe(300);
        await until(() => idsIn(b, key).length >= 300, 'the room\'s 300 messages');
        expect(idsIn(b, key)).toEqual(ids);
        const stored = await a.stream.read(key, { limit: 1000 });
        expect(stored.messages).toEqual(mine.filter((p) => p.message.persistent).map((p) => p.message));
      }
    });

    it('keeps 4 rooms of 2 tenants apart, each in publish order, with each tenant\'s buckets taken', async () => {
      const { a, b } = ctx;
      const name = roomName();
      // Two tenants with rooms of the same names: keys must not mix.
      const keys: RoomKey[] = [
        { tenantId: 'acme', room: `${name}-x` },
        { tenantId: 'acme', room: `${name}-y` },
        { tenantId: 'globex', room: `${name}-x` },
        { tenantId: 'globex', room: `${name}-y` },
      ];
      await Promise.all(keys.map((k) => b.stream.subscribe(k)));
      const tag = ++seq;
      const group = (k: RoomKey) => `${k.tenantId}-${process.pid}-${tag}`;
      const limits = (k: RoomKey, user: string) => ({ group: group(k), buckets: [{ key: `u:${user}`, rate: 0.001, burst: 100 }, { key: 't', rate: 0.001, burst: 100 }] });
      const plan = Array.from({ length: 32 }, (_, i) => ({ key: keys[i % 4] as RoomKey, user: `user-${i % 3}`, i }));
      const results = await Promise.all(plan.map((p) => a.stream.publish(p.key, msg(p.user, p.i), { persistent: true, limits: limits(p.key, p.user) })));
      for (const key of keys) {
        const mine = results.filter((_, i) => same(plan[i]?.key as RoomKey, key));
        expect(mine.map((r) => r.message.payload)).toEqual(plan.filter((p) => same(p.key, key)).map((p) => p.i));
        expect(mine.every((r) => r.message.room === key.room)).toBe(true);
        const ids = mine.map((r) => r.message.id);
        expect(sorted(ids)).toEqual(ids);
        expect((await a.stream.read(key, { limit: 100 })).messages).toEqual(mine.map((r) => r.message));
        await until(() => idsIn(b, key).length >= 8, 'the room\'s 8 messages');
        expect(idsIn(b, key)).toEqual(ids);
      }
      // Each tenant's bucket gave 16 tokens of 100: 84 are left, not 85, for either instance.
      for (const t of ['acme', 'globex']) {
        const g = group({ tenantId: t, room: '' });
        expect((await b.limiter.consumeAll(g, [{ key: 't', rate: 0.001, burst: 100, cost: 85 }])).allowed).toBe(false);
        expect((await b.limiter.consumeAll(g, [{ key: 't', rate: 0.001, burst: 100, cost: 84 }])).allowed).toBe(true);
      }
    });

    it('refuses only the message whose bucket is short, mid-turn, charging nothing for it', async () => {
      const { a, b } = ctx;
      const key: RoomKey = { tenantId: 'acme', room: roomName() };
      await b.stream.subscribe(key);
      const group = `g-${process.pid}-${++seq}`;
      // Alice may send 3, the tenant 5; nothing refills during the test.
      const limits = (user: string) => ({ group, buckets: [{ key: `u:${user}`, rate: 0.001, burst: user === 'alice' ? 3 : 10 }, { key: 't', rate: 0.001, burst: 5 }] });
      const senders = ['alice', 'bob', 'alice', 'alice', 'alice', 'bob', 'carol', 'carol'];
      const outcomes = await Promise.all(senders.map((from, i) => settle(a.stream.publish(key, msg(from, i), { persistent: true, limits: limits(from) }))));
      const refusedBy = outcomes.map((o) => ('err' in o ? (o.err as RateRefusedError).decision.refusedBy : undefined));
      // The fourth of alice's is refused by her own bucket (0); carol's two by the tenant's (1): 3 + 2 tokens were taken.
      expect(refusedBy).toEqual([undefined, undefined, undefined, undefined, 0, undefined, 1, 1]);
      for (const o of outcomes) if ('err' in o) expect(o.err).toBeInstanceOf(RateRefusedError);
      const allowed = outcomes.flatMap((o) => ('ok' in o ? [o.ok.message] : []));
      expect(allowed.map((m) => m.payload)).toEqual([0, 1, 2, 3, 5]);
      expect((await a.stream.read(key, { limit: 100 })).messages).toEqual(allowed);
      await until(() => idsIn(b, key).length >= 5, 'the five allowed messages');
      await sleep(100);
      expect(idsIn(b, key)).toEqual(allowed.map((m) => m.id));
      // Carol's bucket was not charged by her refusals, and the refused alice message took no tenant token.
      expect((await a.limiter.consumeAll(group, [{ key: 'u:carol', rate: 0.001, burst: 10, cost: 10 }])).allowed).toBe(true);
      expect((await b.limiter.consumeAll(group, [{ key: 't', rate: 0.001, burst: 5 }])).allowed).toBe(false);
    });

    it("drops the expired messages and those over the cap when a turn's publishes reach a full room", async () => {
      await ctx.close();
      ctx = await factory.create({ ttlSeconds: 1, maxMessages: 25, dedupeWindowSeconds: 300 });
      const { a } = ctx;
      const key: RoomKey = { tenantId: 'acme', room: roomName() };
      const turn = (from: number, n: number) => Promise.all(Array.from({ length: n }, (_, i) => a.stream.publish(key, msg('alice', from + i), { persistent: true })));
      const old = await turn(0, 40);
      expect((await a.stream.read(key, { limit: 100 })).messages).toEqual(old.slice(-25).map((r) => r.message));
      expect((await a.stream.read(key, { since: old[14]?.message.id, limit: 100 })).recovered).toBe(true);
      expect((await a.stream.read(key, { since: old[13]?.message.id, limit: 100 })).recovered).toBe(false);
      // Past the ttl, the next turn's messages are all that is left.
      await sleep(1300);
      const fresh = await turn(100, 5);
      expect((await a.stream.read(key, { limit: 100 })).messages).toEqual(fresh.map((r) => r.message));
      expect((await a.stream.read(key, { since: old[38]?.message.id, limit: 100 })).recovered).toBe(false);
      expect((await a.stream.read(key, { since: old[39]?.message.id, limit: 100 })).recovered).toBe(true);
    });

    it('answers a clientMessageId repeated within the turn as a duplicate of the first, delivered once', async () => {
      const { a, b } = ctx;
      const key: RoomKey = { tenantId: 'acme', room: roomName() };
      await b.stream.subscribe(key);
      const sends: [string, string, string | undefined, boolean][] = [
        ['alice', 'first', 'cm-1', true],
        ['alice', 'other', 'cm-2', false],
        ['alice', 'again', 'cm-1', true],
        ['bob', 'bob', 'cm-1', true],
        ['alice', 'plain', undefined, true],
        ['alice', 'third time', 'cm-1', false],
        ['alice', 'other again', 'cm-2', true],
      ];
      const results = await Promise.all(sends.map(([from, text, cm, persistent]) => a.stream.publish(key, msg(from, text, cm), { persistent })));
      expect(results.map((r) => r.duplicate)).toEqual([false, false, true, false, false, true, true]);
      expect(results[2]?.message).toEqual(results[0]?.message);
      expect(results[5]?.message).toEqual(results[0]?.message);
      expect(results[6]?.message).toEqual(results[1]?.message);
      const fresh = results.filter((r) => !r.duplicate).map((r) => r.message);
      expect(fresh.map((m) => m.payload)).toEqual(['first', 'other', 'bob', 'plain']);
      expect((await a.stream.read(key, { limit: 100 })).messages).toEqual(fresh.filter((m) => m.persistent));
      await until(() => idsIn(b, key).length >= 4, 'the four new messages');
      await sleep(100);
      expect(idsIn(b, key)).toEqual(fresh.map((m) => m.id));
      // The window holds after the turn too.
      expect((await a.stream.publish(key, msg('alice', 'later', 'cm-1'), { persistent: true })).message).toEqual(results[0]?.message);
    });
  });
}
