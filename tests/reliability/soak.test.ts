/** The short soak run (~60 s of churn, a sample every 10 s): the heap after GC stays near its post-warm-up value. */
import { describe, expect, it } from 'vitest';
import { formatSoak, runSoak, SHORT_SOAK } from './soak.js';

describe('soak (short)', () => {
  it(`keeps the post-GC heap within ±${SHORT_SOAK.tolerance * 100} % of its post-warm-up value under connect/join/send/leave churn`, async () => {
    const report = await runSoak(SHORT_SOAK);
    const summary = formatSoak(report, SHORT_SOAK.tolerance);
    expect(report.cycles, summary).toBeGreaterThan(SHORT_SOAK.population);
    expect(report.samples.length, summary).toBeGreaterThanOrEqual(3);
    expect(report.maxDeviation, summary).toBeLessThanOrEqual(SHORT_SOAK.tolerance);
    expect(report.connectionsAfter, summary).toBe(0);
    expect(report.errors, summary).toEqual({});
  }, 180_000);
});
