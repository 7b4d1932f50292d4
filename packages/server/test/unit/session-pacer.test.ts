import { describe, expect, it } from 'vitest';
import { SessionPacer } from '../../src/http/pacing.js';

const nextTurns = (n: number) => new Promise<void>((resolve) => {
  const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
  step(n);
});

describe('SessionPacer', () => {
  it('starts at most perTurn sessions per event-loop turn, in arrival order, with other work between the batches', async () => {
    const pacer = new SessionPacer(3);
    const log: string[] = [];
    for (let i = 1; i <= 10; i++) pacer.run(() => log.push(`s${i}`));
    expect(log).toEqual(['s1', 's2', 's3']);
    expect(pacer.waiting).toBe(7);
    // Other work that became ready in this turn (an I/O callback of a connected client, say).
    setImmediate(() => log.push('other'));
    await nextTurns(6);
    expect(log).toEqual(['s1', 's2', 's3', 's4', 's5', 's6', 'other', 's7', 's8', 's9', 's10']);
    expect(pacer.waiting).toBe(0);
  });

  it('queues a newcomer behind the sessions already waiting, even in a turn with room', async () => {
    const pacer = new SessionPacer(2);
    const log: string[] = [];
    for (let i = 1; i <= 5; i++) pacer.run(() => log.push(`s${i}`));
    await new Promise<void>((resolve) => setImmediate(resolve));
    // s3 and s4 went in the check phase; s5 waits. A new arrival goes after it.
    pacer.run(() => log.push('late'));
    await nextTurns(4);
    expect(log).toEqual(['s1', 's2', 's3', 's4', 's5', 'late']);
  });

  it('starts a session at once in a quiet turn, and every session at once with perTurn 0', async () => {
    const pacer = new SessionPacer(1);
    const log: string[] = [];
    pacer.run(() => log.push('a'));
    expect(log).toEqual(['a']);
    await nextTurns(3);
    pacer.run(() => log.push('b'));
    expect(log).toEqual(['a', 'b']);
    const unpaced = new SessionPacer(0);
    for (let i = 0; i < 100; i++) unpaced.run(() => log.push('u'));
    expect(log).toHaveLength(102);
    expect(unpaced.waiting).toBe(0);
  });

  it('keeps its queue compact over a long run', async () => {
    const pacer = new SessionPacer(50);
    let started = 0;
    for (let i = 0; i < 20_000; i++) pacer.run(() => started++);
    await nextTurns(405);
    expect(started).toBe(20_000);
    expect(pacer.waiting).toBe(0);
  });
});
