import { describe, expect, it } from 'vitest';
import { formatMessageId, newEpoch, parseMessageId } from '../../src/engine/ids.js';

describe('epochs', () => {
  it('are 8 characters of [a-z0-9], distinct across many draws (several refills of the random pool)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const e = newEpoch();
      expect(e).toMatch(/^[a-z0-9]{8}$/);
      seen.add(e);
    }
    expect(seen.size).toBe(5000);
  });

  it('make message ids that parse back', () => {
    const epoch = newEpoch();
    const id = formatMessageId(1_764_000_000_000_000, epoch);
    expect(parseMessageId(id)).toEqual({ seq: 1_764_000_000_000_000, epoch });
  });
});
