import { describe, expect, it } from 'vitest';
import { canTransition, StateMachine, type StateChange } from '../../src/state.js';
import { WebSocketClientError } from '../../src/errors.js';

describe('StateMachine', () => {
  it('reports each change once with the old and new state', () => {
    const changes: StateChange[] = [];
    const m = new StateMachine((c) => changes.push(c));
    expect(m.state).toBe('disconnected');
    expect(m.setState('connecting')).toBe(true);
    expect(m.setState('connecting')).toBe(false);
    m.setState('connected');
    m.setState('reconnecting', { reason: 'transport close' });
    const error = new WebSocketClientError('AUTH_INVALID');
    m.setState('failed', { reason: 'AUTH_INVALID', error });
    expect(changes).toEqual([
      { oldState: 'disconnected', newState: 'connecting' },
      { oldState: 'connecting', newState: 'connected' },
      { oldState: 'connected', newState: 'reconnecting', reason: 'transport close' },
      { oldState: 'reconnecting', newState: 'failed', reason: 'AUTH_INVALID', error },
    ]);
  });

  it('refuses transitions that make no sense', () => {
    const m = new StateMachine(() => {});
    expect(() => m.setState('connected')).toThrow(/disconnected -> connected/);
    expect(canTransition('failed', 'connecting')).toBe(true);
    expect(canTransition('disconnected', 'reconnecting')).toBe(false);
    expect(canTransition('connected', 'connecting')).toBe(false);
  });
});
