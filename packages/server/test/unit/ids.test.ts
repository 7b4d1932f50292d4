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

  it('write the sequence as 16 zero-padded digits, at both ends and around the halves', () => {
    for (const seq of [0, 1, 42, 99_999_999, 100_000_000, 100_000_001, 1_234_567_890_123, 1_764_000_000_000_000, 9_999_999_999_999_999 - 1, Number.MAX_SAFE_INTEGER]) {
      const id = formatMessageId(seq, 'abcdefgh');
      expect(id).toBe(`${String(seq).padStart(16, '0')}-abcdefgh`);
      if (Number.isSafeInteger(seq)) expect(parseMessageId(id)?.seq).toBe(seq);
    }
  });
});
