import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { describe, expect, it } from 'vitest';
import { RecentSet, RoomSequence } from '../../src/recovery.js';

const id = (n: number) => `${String(1_700_000_000_000_000 + n).padStart(16, '0')}-abcdefgh`;
const msg = (n: number, extra: Partial<RoomMessage> = {}): RoomMessage => ({ id: id(n), room: 'r', from: 'u', payload: n, timestamp: 0, ...extra });
const ns = (messages: RoomMessage[]) => messages.map((m) => m.payload);

describe('RoomSequence', () => {
  it('delivers live messages once, in order', () => {
    const s = new RoomSequence();
    expect(ns(s.live(msg(1)))).toEqual([1]);
    expect(ns(s.live(msg(2)))).toEqual([2]);
    expect(ns(s.live(msg(2)))).toEqual([]);
    expect(ns(s.live(msg(1)))).toEqual([]);
    expect(s.lastId).toBe(id(2));
  });

  it('holds live messages back during a recovery and merges them after the stored ones', () => {
    const s = new RoomSequence();
    s.live(msg(1));
    const g = s.beginRecovery();
    expect(s.recovering).toBe(true);
    // Live messages arrive while the join ack and history pages are in flight, some also stored.
    expect(s.live(msg(5))).toEqual([]);
    expect(s.live(msg(4))).toEqual([]);
    expect(s.live(msg(7))).toEqual([]);
    expect(ns(s.recovered([msg(2), msg(3), msg(4)]))).toEqual([2, 3, 4]);
    expect(ns(s.recovered([msg(5), msg(6)]))).toEqual([5, 6]);
    expect(s.isRecovery(g)).toBe(true);
    expect(ns(s.endRecovery())).toEqual([7]);
    expect(s.recovering).toBe(false);
    expect(ns(s.live(msg(8)))).toEqual([8]);
  });

  it('sorts a page and drops what was already delivered', () => {
    const s = new RoomSequence();
    s.live(msg(3));
    s.beginRecovery();
    expect(ns(s.recovered([msg(4), msg(2), msg(3), msg(5)]))).toEqual([4, 5]);
    expect(ns(s.endRecovery())).toEqual([]);
  });

  it('drops held-back messages when a recovery is aborted, so the next one starts from the last delivered id', () => {
    const s = new RoomSequence();
    s.live(msg(1));
    const g = s.beginRecovery();
    s.live(msg(9));
    expect(ns(s.recovered([msg(2)]))).toEqual([2]);
    s.abortRecovery();
    expect(s.isRecovery(g)).toBe(false);
    expect(s.lastId).toBe(id(2));
    const g2 = s.beginRecovery();
    expect(g2).not.toBe(g);
    expect(ns(s.recovered([msg(3), msg(9)]))).toEqual([3, 9]);
    expect(ns(s.endRecovery())).toEqual([]);
  });

  it('skips messages this client sent itself', () => {
    const s = new RoomSequence((m) => m.clientMessageId === 'mine');
    s.beginRecovery();
    expect(ns(s.recovered([msg(1), msg(2, { clientMessageId: 'mine' }), msg(3, { clientMessageId: 'other' })]))).toEqual([1, 3]);
  });

  it('gives exactly-once ordered output however live and stored copies overlap', () => {
    for (let round = 0; round < 50; round++) {
      const s = new RoomSequence();
      const out: unknown[] = [];
      const all = Array.from({ length: 30 }, (_, i) => msg(i + 1));
      out.push(...ns(s.live(all[0] as RoomMessage)));
      s.beginRecovery();
      // The server subscribes the connection, then reads history: live copies start at some message,
      // and the stored read reaches at least the one before it (possibly further).
      const liveFrom = 1 + Math.floor(Math.random() * 29);
      const storedTo = liveFrom + Math.floor(Math.random() * (30 - liveFrom + 1));
      const stored = all.slice(1, storedTo);
      const live = all.slice(liveFrom);
      let li = 0;
      for (let i = 0; i < stored.length; i += 7) {
        // Interleave: some live messages arrive between pages.
        for (const m of live.slice(li, (li += Math.floor(Math.random() * 5)))) out.push(...ns(s.live(m)));
        out.push(...ns(s.recovered(stored.slice(i, i + 7))));
      }
      for (const m of live.slice(li)) out.push(...ns(s.live(m)));
      out.push(...ns(s.endRecovery()));
      expect(out).toEqual(all.map((m) => m.payload));
    }
  });
});

describe('RecentSet', () => {
  it('keeps the most recent values up to its capacity', () => {
    const r = new RecentSet(3);
    for (const v of ['a', 'b', 'c', 'd']) r.add(v);
    expect(r.has('a')).toBe(false);
    expect(r.has('d')).toBe(true);
    expect(r.size).toBe(3);
    r.add('b');
    r.add('e');
    expect(r.has('b')).toBe(true);
    expect(r.has('c')).toBe(false);
  });
});
