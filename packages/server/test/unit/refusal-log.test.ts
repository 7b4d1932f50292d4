import { describe, expect, it } from 'vitest';
import { RefusalLog } from '../../src/refusal-log.js';

function logAt(opts: { intervalMs?: number; maxLines?: number; maxKeys?: number } = {}) {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const clock = { now: 1_000_000 };
  const sink = {
    info: (fields: Record<string, unknown>, message: string) => void lines.push({ level: 'info', fields, message }),
    warn: (fields: Record<string, unknown>, message: string) => void lines.push({ level: 'warn', fields, message }),
  };
  const log = new RefusalLog(sink as never, { ...opts, clock: () => clock.now });
  return { log, lines, clock };
}

describe('RefusalLog', () => {
  it('logs one line per address per interval, the next one saying how many were left out', () => {
    const { log, lines, clock } = logAt({ intervalMs: 10_000 });
    for (let i = 0; i < 50; i++) log.refused('10.0.0.1', { code: 'AUTH_INVALID' }, 'connection refused');
    log.refused('10.0.0.2', { code: 'AUTH_INVALID' }, 'connection refused', 'warn');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({ level: 'info', fields: { address: '10.0.0.1', code: 'AUTH_INVALID' }, message: 'connection refused' });
    expect(lines[1]?.level).toBe('warn');
    clock.now += 10_000;
    log.refused('10.0.0.1', { code: 'AUTH_INVALID' }, 'connection refused');
    expect(lines[2]?.fields).toEqual({ address: '10.0.0.1', code: 'AUTH_INVALID', suppressed: 49 });
  });

  it('writes at most maxLines lines per interval in all, and says how many other addresses were left out', () => {
    const { log, lines, clock } = logAt({ intervalMs: 60_000, maxLines: 5 });
    for (let i = 0; i < 100; i++) log.refused(`10.0.0.${i}`, { origin: `https://o${i}.example` }, 'origin not allowed');
    expect(lines.map((l) => l.fields.origin)).toEqual(['https://o0.example', 'https://o1.example', 'https://o2.example', 'https://o3.example', 'https://o4.example']);
    clock.now += 60_000;
    log.refused('10.9.9.9', { origin: 'https://next.example' }, 'origin not allowed');
    expect(lines[5]?.fields).toEqual({ address: '10.9.9.9', origin: 'https://next.example', suppressedElsewhere: 95 });
  });

  it('remembers at most maxKeys addresses', () => {
    const { log, lines } = logAt({ intervalMs: 60_000, maxLines: 1_000_000, maxKeys: 10 });
    for (let i = 0; i < 25; i++) log.refused(`10.0.0.${i}`, {}, 'refused');
    // The map started afresh at 10 and 20: an address seen before a reset may log again.
    log.refused('10.0.0.0', {}, 'refused');
    expect(lines).toHaveLength(26);
  });
});
