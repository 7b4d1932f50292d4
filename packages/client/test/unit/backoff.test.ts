import { describe, expect, it } from 'vitest';
import { backoff, DEFAULT_BACKOFF } from '../../src/backoff.js';

describe('backoff', () => {
  it('is random in [0, min * 2^attempt] while below the maximum', () => {
    expect(backoff(0, 500, 30_000, 2, () => 0)).toBe(0);
    expect(backoff(0, 500, 30_000, 2, () => 0.999999)).toBe(500);
    expect(backoff(3, 500, 30_000, 2, () => 0.5)).toBe(2000);
    expect(backoff(3, 500, 30_000, 2, () => 0.999999)).toBe(4000);
  });

  it('never exceeds the maximum, however many attempts', () => {
    expect(backoff(10, 500, 30_000, 2, () => 0.999999)).toBe(30_000);
    expect(backoff(5000, 500, 30_000, 2, () => 0.999999)).toBe(30_000);
    for (let attempt = 0; attempt < 40; attempt++) {
      const d = backoff(attempt, 100, 5000);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(Math.min(5000, 100 * 2 ** attempt));
    }
  });

  it('uses the growth factor', () => {
    expect(backoff(2, 100, 10_000, 3, () => 0.999999)).toBe(900);
  });

  it('spreads delays (full jitter)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoff(6, 500, 30_000)));
    expect(delays.size).toBeGreaterThan(10);
  });

  it('treats negative or fractional attempts as whole attempts from 0, and a zero minimum as no delay', () => {
    expect(backoff(-3, 500, 30_000, 2, () => 0.999999)).toBe(500);
    expect(backoff(1.7, 500, 30_000, 2, () => 0.999999)).toBe(1000);
    expect(backoff(4, 0, 30_000)).toBe(0);
  });

  it('has documented defaults', () => {
    expect(DEFAULT_BACKOFF).toEqual({ minDelayMs: 500, maxDelayMs: 30_000, factor: 2 });
  });
});
