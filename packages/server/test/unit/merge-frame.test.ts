import { describe, expect, it } from 'vitest';
import { MERGE_LIMIT_BYTES, mergeFrame } from '../../src/transport-tuning/frame-merging.js';

/** A server-to-client text frame header (RFC 6455 §5.2, unmasked) for a payload of `n` bytes. */
function header(n: number): Buffer {
  if (n <= 125) return Buffer.from([0x81, n]);
  if (n < 65536) {
    const h = Buffer.from([0x81, 126, 0, 0]);
    h.writeUInt16BE(n, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = 0x81;
  h[1] = 127;
  h.writeUIntBE(n, 4, 6);
  return h;
}

describe('mergeFrame', () => {
  it('joins a header and a buffer payload into the same bytes', () => {
    const data = Buffer.from('42["room:message",{"n":1}]');
    const out = mergeFrame([header(data.length), data]);
    expect(out).toEqual(Buffer.concat([header(data.length), data]));
  });

  it('encodes a string payload as UTF-8, multi-byte characters included', () => {
    const text = '42["x","héllo ✓ 𝄞"]';
    const bytes = Buffer.from(text, 'utf8');
    expect(bytes.length).toBeGreaterThan(text.length);
    expect(mergeFrame([header(bytes.length), text])).toEqual(Buffer.concat([header(bytes.length), bytes]));
  });

  it('reads the 16-bit and 64-bit length forms', () => {
    for (const n of [126, 1000, 65535, 70_000]) {
      const data = Buffer.alloc(n, 0x61);
      const out = mergeFrame([header(n), data], Infinity);
      expect(out?.length).toBe(header(n).length + n);
      expect(out?.subarray(header(n).length).equals(data)).toBe(true);
    }
  });

  it('leaves frames above the limit, one-part frames and mismatched headers alone', () => {
    const big = Buffer.alloc(MERGE_LIMIT_BYTES, 0x61);
    expect(mergeFrame([header(big.length), big])).toBeUndefined();
    expect(mergeFrame([header(big.length), big], Infinity)?.length).toBe(big.length + 4);
    expect(mergeFrame([Buffer.from([0x81, 1, 0x61])])).toBeUndefined();
    // The header announces 5 bytes, the payload has 3: written as it was given.
    expect(mergeFrame([header(5), Buffer.from('abc')])).toBeUndefined();
    expect(mergeFrame([header(2), 'é✓'])).toBeUndefined();
  });
});
