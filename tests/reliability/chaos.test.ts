/** The short chaos run (~75 s): kill -9, Redis restarted empty, rolling restart and a Redis restart under load, nothing lost. */
import { describe, expect, it } from 'vitest';
import { formatChaos, runChaos, SHORT_CHAOS } from './chaos.js';

describe('chaos (short)', () => {
  it('loses, duplicates and reorders nothing through instance kills, Redis restarted empty, a rolling restart and a Redis restart; presence exact', async () => {
    const report = await runChaos(SHORT_CHAOS);
    const summary = formatChaos(report);
    expect(report.acknowledged, summary).toBeGreaterThan(0);
    expect(report.delivered, summary).toBeGreaterThan(0);
    expect(report.lost, summary).toBe(0);
    expect(report.duplicated, summary).toBe(0);
    expect(report.outOfOrder, summary).toBe(0);
    expect(report.ghosts, summary).toEqual([]);
    expect(report.missingPresence, summary).toEqual([]);
    expect(report.notConnectedAtEnd, summary).toBe(0);
  }, 240_000);
});
