import { describe, expect, it } from 'vitest';
import { Outbox, type OutgoingMessage } from '../../src/queue.js';

const message = (n: number): OutgoingMessage => ({
  clientMessageId: `c${n}`,
  room: 'r',
  payload: n,
  persistent: false,
  attempts: 0,
  failures: 0,
  resolve: () => {},
  reject: () => {},
});

describe('Outbox', () => {
  it('is a bounded FIFO', () => {
    const q = new Outbox(2);
    const [a, b, c] = [message(1), message(2), message(3)];
    expect(q.push(a)).toBe(true);
    expect(q.push(b)).toBe(true);
    expect(q.full).toBe(true);
    expect(q.push(c)).toBe(false);
    expect(q.size).toBe(2);
    expect(q.peek()).toBe(a);
    expect(q.remove(a)).toBe(true);
    expect(q.remove(a)).toBe(false);
    expect(q.peek()).toBe(b);
    expect(q.push(c)).toBe(true);
    expect(q.drain()).toEqual([b, c]);
    expect(q.size).toBe(0);
    expect(q.peek()).toBeUndefined();
  });
});
