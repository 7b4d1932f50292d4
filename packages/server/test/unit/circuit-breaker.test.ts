import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/auth/circuit-breaker.js';

describe('CircuitBreaker', () => {
  const make = (failures = 3, cooldownMs = 1000) => {
    let now = 0;
    const changes: boolean[] = [];
    const breaker = new CircuitBreaker(failures, cooldownMs, (open) => changes.push(open), () => now);
    return { breaker, changes, advance: (ms: number) => (now += ms) };
  };

  it('opens after failures in a row only; a success in between starts the count again', () => {
    const { breaker, changes } = make(3);
    breaker.failure();
    breaker.failure();
    breaker.success();
    breaker.failure();
    breaker.failure();
    expect(breaker.allow()).toBe(true);
    breaker.failure();
    expect(breaker.open).toBe(true);
    expect(breaker.allow()).toBe(false);
    expect(changes).toEqual([true]);
  });

  it('lets one trial call through after the cooldown: others wait; its success closes, its failure reopens for a full cooldown', () => {
    const { breaker, changes, advance } = make(1, 1000);
    breaker.failure();
    advance(999);
    expect(breaker.allow()).toBe(false);
    advance(1);
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(false);
    breaker.failure();
    expect(breaker.allow()).toBe(false);
    advance(1000);
    expect(breaker.allow()).toBe(true);
    breaker.success();
    expect(breaker.open).toBe(false);
    expect(breaker.allow()).toBe(true);
    expect(changes).toEqual([true, false]);
  });

  it('never opens with a threshold of 0', () => {
    const { breaker } = make(0);
    for (let i = 0; i < 100; i++) breaker.failure();
    expect(breaker.allow()).toBe(true);
  });
});
