/** The short fuzz run (10k frames, ~30 s): the server stays live, correct for a well-behaved client, and leak-free. */
import { describe, expect, it } from 'vitest';
import { formatFuzz, fuzzHeapOk, runFuzz, SHORT_FUZZ } from './fuzz.js';

describe('fuzz (short)', () => {
  it('survives random and mutated frames, bogus polling and slow-loris while a good client keeps working', async () => {
    const report = await runFuzz(SHORT_FUZZ);
    const summary = formatFuzz(report);
    expect(report.frames, summary).toBeGreaterThanOrEqual(SHORT_FUZZ.frames);
    expect(report.serverExited, summary).toBe(false);
    expect(report.liveChecks, summary).toBeGreaterThan(0);
    expect(report.liveFailures, summary).toBe(0);
    expect(report.goodRounds, summary).toBeGreaterThan(0);
    expect(report.goodFailures, summary).toEqual([]);
    expect(report.uncoded, summary).toEqual([]);
    expect(report.leaks, summary).toEqual([]);
    // The documented heap bound: after the fuzz connections closed, a full GC gets the heap back near where it was.
    expect(fuzzHeapOk(report), summary).toBe(true);
  }, 180_000);
});
