import { describe, expect, it } from 'vitest';
import { RefusalLog } from '../../src/http/origin.js';

describe('RefusalLog', () => {
  it('logs at most perWindow lines a window, and the next line reports how many were left out', () => {
    const lines: Record<string, unknown>[] = [];
    let now = 1_000_000;
    const log = new RefusalLog({ warn: (fields) => lines.push(fields) }, 5, 60_000, () => now);
    for (let i = 0; i < 100; i++) log.refused({ origin: `https://o${i}.example` });
    expect(lines.map((l) => l.origin)).toEqual(['https://o0.example', 'https://o1.example', 'https://o2.example', 'https://o3.example', 'https://o4.example']);
    expect(lines.some((l) => 'suppressed' in l)).toBe(false);

    now += 59_999;
    log.refused({ origin: 'https://still-the-same-window.example' });
    expect(lines).toHaveLength(5);

    now += 1;
    log.refused({ origin: 'https://next.example' });
    log.refused({ origin: 'https://next-again.example' });
    expect(lines.slice(5)).toEqual([{ origin: 'https://next.example', suppressed: 96 }, { origin: 'https://next-again.example' }]);
  });
});
