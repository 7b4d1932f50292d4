import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetter, OutboxItem, WebhookStore } from '../../src/engine/types.js';

export interface WebhooksContext {
  /** Two stores on the same state (two instances; the same object for the embedded engine). */
  a: WebhookStore;
  b: WebhookStore;
  close(): Promise<void>;
}

export interface WebhooksFactory {
  create(): Promise<WebhooksContext>;
}

let seq = 0;
const LIMITS = { max: 3, ttlMs: 60_000 };

/** The semantics every WebhookStore implementation must have: the outbox, the grace pairs, leases, dead letters, instance tracking. */
export function webhooksContract(name: string, factory: WebhooksFactory): void {
  describe(`WebhookStore contract: ${name}`, () => {
    let ctx: WebhooksContext;
    let a: WebhookStore;
    let b: WebhookStore;
    let ep: string;
    beforeEach(async () => {
      ctx = await factory.create();
      ({ a, b } = ctx);
      ep = `ep${process.pid}x${++seq}`;
    });
    afterEach(async () => ctx.close());

    const item = (id: string, hold?: OutboxItem['hold'], endpoints = [ep]): OutboxItem => ({ id, json: JSON.stringify({ id, data: { list: [], map: {} } }), endpoints, ...(hold && { hold }) });
    const ids = async (store: WebhookStore, endpoint = ep) => (await store.peek(endpoint, 1000)).map((e) => e.id);

    it('queues events per endpoint in order, keeps their JSON as given, and removes only the acknowledged head', async () => {
      const other = `${ep}-2`;
      const now = Date.now();
      expect(await a.add([item('e1'), item('e2', undefined, [ep, other]), item('e3')], now, 0, 100)).toBe(0);
      expect(await ids(b)).toEqual(['e1', 'e2', 'e3']);
      expect(await ids(b, other)).toEqual(['e2']);
      const [first] = await b.peek(ep, 1);
      expect(first).toEqual({ id: 'e1', json: JSON.stringify({ id: 'e1', data: { list: [], map: {} } }), queuedAt: now });
      expect((await a.active()).sort()).toEqual([ep, other].sort());
      // Only a matching head goes: an acknowledgement of events already gone (another instance's) removes nothing.
      expect(await a.ack(ep, ['e2'])).toBe(0);
      expect(await a.ack(ep, ['e1', 'e2'])).toBe(2);
      expect(await b.ack(ep, ['e1', 'e2'])).toBe(0);
      expect(await ids(a)).toEqual(['e3']);
      expect(await a.ack(ep, ['e3'])).toBe(1);
      expect(await a.active()).toEqual([other]);
    });

    it('drops events beyond the queue cap and counts them', async () => {
      const now = Date.now();
      expect(await a.add([item('e1'), item('e2'), item('e3')], now, 0, 2)).toBe(1);
      expect(await ids(a)).toEqual(['e1', 'e2']);
    });

    it('holds a leave for the grace window, cancels it with the enter of the same subject, and settles the rest once', async () => {
      const now = Date.now();
      await a.add([item('left-1', { kind: 'leave', subject: 's1' }), item('left-2', { kind: 'leave', subject: 's2' }), item('left-3', { kind: 'leave', subject: 's3' })], now, 1000, 100);
      expect(await ids(a)).toEqual([]);
      // s1 comes back: neither event is sent.
      await b.add([item('back-1', { kind: 'enter', subject: 's1' }), item('other', { kind: 'enter', subject: 'sX' })], now + 10, 1000, 100);
      expect(await ids(a)).toEqual(['other']);
      expect(await a.due(now + 999, 10)).toEqual([]);
      const due = await a.due(now + 1000, 10);
      expect(due).toEqual(['s2', 's3']);
      // Two instances settle at once: each held leave is queued (or dropped) once.
      const queued = await Promise.all([a.settle(['s2'], ['s3'], now + 1001, 100), b.settle(['s2'], ['s3'], now + 1001, 100)]);
      expect(queued.sort()).toEqual([0, 1]);
      expect(await ids(a)).toEqual(['other', 'left-2']);
      expect(await a.due(now + 5000, 10)).toEqual([]);
      // An enter after the leave was sent is sent too.
      await a.add([item('back-2', { kind: 'enter', subject: 's2' })], now + 2000, 1000, 100);
      expect(await ids(a)).toEqual(['other', 'left-2', 'back-2']);
    });

    it('gives a lease to one owner at a time until it is given back or runs out', async () => {
      const lease = `${ep}-lease`;
      expect(await a.lease(lease, 'x', 10_000)).toBe(true);
      expect(await b.lease(lease, 'y', 10_000)).toBe(false);
      expect(await a.lease(lease, 'x', 10_000)).toBe(true);
      await b.unlease(lease, 'y');
      expect(await b.lease(lease, 'y', 10_000)).toBe(false);
      await a.unlease(lease, 'x');
      expect(await b.lease(lease, 'y', 50)).toBe(true);
      await new Promise((r) => setTimeout(r, 150));
      expect(await a.lease(lease, 'x', 10_000)).toBe(true);
      await a.unlease(lease, 'x');
    });

    it('keeps dead letters newest first, by tenant, within their cap and lifetime, and replays or discards each once', async () => {
      const now = Date.now();
      await a.add([item('e1'), item('e2'), item('e3')], now, 0, 100);
      const letter = (at: number, tenantId: string, events: string[]): DeadLetter => ({
        id: `dl_${String(at).padStart(13, '0')}_${String(++seq).padStart(12, '0')}`,
        tenantId,
        endpoint: ep,
        url: 'http://receiver.invalid/hooks',
        events: events.map((id) => ({ id, json: `{"id":"${id}"}`, queuedAt: now })),
        attempts: 3,
        lastError: 'status 500',
        failedAt: at,
      });
      const l1 = letter(now - 3, 'acme', ['e1']);
      const l2 = letter(now - 2, 'globex', ['e2']);
      expect(await a.deadLetter(ep, ['e1', 'e2'], [l1, l2], LIMITS, now)).toBe(2);
      expect(await ids(a)).toEqual(['e3']);
      const l3 = letter(now - 1, 'acme', ['e3']);
      await b.deadLetter(ep, ['e3'], [l3], LIMITS, now);
      expect(await a.active()).not.toContain(ep);
      expect((await a.deadLetters({ limit: 10 }, now, LIMITS.ttlMs)).map((l) => l.id)).toEqual([l3.id, l2.id, l1.id]);
      expect(await b.deadLetters({ tenantId: 'acme', limit: 10 }, now, LIMITS.ttlMs)).toEqual([l3, l1]);
      expect((await a.deadLetters({ limit: 1, before: l3.id }, now, LIMITS.ttlMs)).map((l) => l.id)).toEqual([l2.id]);
      expect(await a.letter(l2.id, now, LIMITS.ttlMs)).toEqual(l2);
      // Replayed once, to the tail of its endpoint's queue.
      const replays = await Promise.all([a.replay(l1.id, now), b.replay(l1.id, now)]);
      expect(replays.filter((r) => r !== undefined)).toEqual([l1]);
      expect(await ids(a)).toEqual(['e1']);
      expect(await a.discard(l2.id)).toBe(true);
      expect(await b.discard(l2.id)).toBe(false);
      expect((await a.deadLetters({ limit: 10 }, now, LIMITS.ttlMs)).map((l) => l.id)).toEqual([l3.id]);
      // Over the cap the oldest go; past their lifetime they are neither listed nor kept.
      const more = [1, 2, 3].map((i) => letter(now + i, 'acme', []));
      await a.deadLetter(ep, [], more, LIMITS, now + 3);
      expect((await a.deadLetters({ limit: 10 }, now + 3, LIMITS.ttlMs)).map((l) => l.id)).toEqual(more.map((l) => l.id).reverse());
      expect(await a.deadLetters({ limit: 10 }, now + LIMITS.ttlMs + 10, LIMITS.ttlMs)).toEqual([]);
      expect(await a.letter(more[0]?.id as string, now + LIMITS.ttlMs + 10, LIMITS.ttlMs)).toBeUndefined();
      await a.deadLetter(ep, [], [letter(now + LIMITS.ttlMs + 10, 'acme', [])], LIMITS, now + LIMITS.ttlMs + 10);
      expect(await a.deadLetters({ limit: 10 }, now, 10 * LIMITS.ttlMs)).toHaveLength(1);
    });

    it('pages through letters of the same millisecond stored out of id order, each once', async () => {
      const now = Date.now();
      const at = (suffix: string): DeadLetter => ({
        id: `dl_${String(now).padStart(13, '0')}_${suffix}`,
        tenantId: 'acme',
        endpoint: ep,
        url: 'http://receiver.invalid/hooks',
        events: [],
        attempts: 1,
        lastError: 'status 500',
        failedAt: now,
      });
      await a.deadLetter(ep, [], [at('ffffffffffff')], LIMITS, now);
      await a.deadLetter(ep, [], [at('000000000000')], LIMITS, now);
      const seen: string[] = [];
      let before: string | undefined;
      for (let page = await a.deadLetters({ limit: 1 }, now, LIMITS.ttlMs); page.length > 0; page = await a.deadLetters({ limit: 1, ...(before !== undefined && { before }) }, now, LIMITS.ttlMs)) {
        seen.push(...page.map((l) => l.id));
        before = page[page.length - 1]?.id;
      }
      expect(seen.filter((id) => id.startsWith(`dl_${String(now).padStart(13, '0')}`))).toEqual([at('ffffffffffff').id, at('000000000000').id]);
    });

    it("tracks each instance's users, lists silent instances and hands their users out once", async () => {
      const now = Date.now();
      const dead = `${ep}-dead`;
      const alive = `${ep}-alive`;
      await a.track(dead, ['u1', 'u2', 'u3'], now - 60_000);
      await a.track(alive, ['u4'], now - 60_000);
      await a.untrack(dead, 'u3');
      expect(await b.refresh(alive, now)).toBe(true);
      expect(await b.refresh(`${ep}-unknown`, now)).toBe(false);
      expect(await b.silent(now - 30_000)).toContain(dead);
      expect(await b.silent(now - 30_000)).not.toContain(alive);
      const taken = await Promise.all([a.takeUsers(dead, 1), b.takeUsers(dead, 1), a.takeUsers(dead, 1)]);
      expect(taken.flat().sort()).toEqual(['u1', 'u2']);
      expect(await a.takeUsers(dead, 10)).toEqual([]);
      expect(await b.silent(now - 30_000)).not.toContain(dead);
    });
  });
}
