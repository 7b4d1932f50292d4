import { describe, expect, it } from 'vitest';
import { TurnBatch, type BatchOutcome } from '../../src/engine/redis/turn-batch.js';

/** A batch whose runs are recorded; `answer` decides each run's outcomes. */
function recording(answer: (items: readonly number[]) => Promise<readonly BatchOutcome<string>[]>, max?: number) {
  const runs: number[][] = [];
  const batch = new TurnBatch<number, string>((items) => {
    runs.push([...items]);
    return answer(items);
  }, max);
  return { batch, runs };
}

const echo = async (items: readonly number[]) => items.map((n) => `r${n}`);

describe('TurnBatch', () => {
  it('runs the calls of one event-loop turn together, each caller getting its own result', async () => {
    const { batch, runs } = recording(echo);
    const results = await Promise.all([1, 2, 3].map((n) => batch.add(n)));
    expect(results).toEqual(['r1', 'r2', 'r3']);
    expect(runs).toEqual([[1, 2, 3]]);
  });

  it('gathers calls made in separate callbacks of the same turn, and not those of the next turn', async () => {
    const { batch, runs } = recording(echo);
    // Two immediates queued together run in the same check phase, each in its own callback (as the
    // sockets' I/O callbacks of one poll do): one batch. Timers would not do: two 0 ms timers may fall
    // in different turns on a loaded machine.
    const first = await new Promise<Promise<string>[]>((resolve) => {
      const calls: Promise<string>[] = [];
      setImmediate(() => calls.push(batch.add(1)));
      setImmediate(() => {
        calls.push(batch.add(2));
        resolve(calls);
      });
    });
    await Promise.all(first);
    await batch.add(3);
    expect(runs).toEqual([[1, 2], [3]]);
  });

  it('splits a turn into chunks of at most maxBatch calls', async () => {
    const { batch, runs } = recording(echo, 4);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => batch.add(i)));
    expect(results).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`));
    expect(runs.map((r) => r.length)).toEqual([4, 4, 2]);
  });

  it("rejects one caller with its item's error, every caller of a chunk whose run failed, and no other chunk's", async () => {
    const { batch } = recording(async (items) => {
      if (items.includes(7)) throw new Error('run failed');
      return items.map((n) => (n === 2 ? new Error('item 2 refused') : `r${n}`));
    }, 3);
    const settled = await Promise.allSettled([1, 2, 3, 7, 8].map((n) => batch.add(n)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual(['r1', 'item 2 refused', 'r3', 'run failed', 'run failed']);
  });

  it('rejects the callers of a run that throws at once, or answers with the wrong number of outcomes', async () => {
    const throwing = new TurnBatch<number, string>(() => {
      throw new Error('thrown');
    });
    await expect(throwing.add(1)).rejects.toThrow('thrown');
    const short = new TurnBatch<number, string>(async () => ['only one']);
    const settled = await Promise.allSettled([short.add(1), short.add(2)]);
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
  });
});
