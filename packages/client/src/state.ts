import type { WebSocketClientError } from './errors.js';

/**
 * - `disconnected`: not connected and not trying (initial state, and after `disconnect()`).
 * - `connecting`: opening the first connection of a session (after `connect()`), retrying until it succeeds.
 * - `connected`: connected, rooms re-joined; messages go out immediately.
 * - `reconnecting`: the connection was lost; retrying with backoff. Sends are queued.
 * - `failed`: the server refused the connection for good (`AUTH_REQUIRED`, `AUTH_INVALID`,
 *   `TENANT_MISMATCH`, or `AUTH_EXPIRED` without `getToken`). No retry until `connect()` is called again.
 */
export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting' | 'failed';

export interface StateChange {
  oldState: ConnectionState;
  newState: ConnectionState;
  /** Why the state changed, when known: a Socket.IO disconnect reason, `restart`, or an error code. */
  reason?: string;
  /** For `failed` (and `disconnected` after a failure): the error that caused it. */
  error?: WebSocketClientError;
}

const TRANSITIONS: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  disconnected: ['connecting'],
  connecting: ['connected', 'disconnected', 'failed'],
  connected: ['reconnecting', 'disconnected', 'failed'],
  reconnecting: ['connected', 'disconnected', 'failed'],
  failed: ['connecting', 'disconnected'],
};

export function canTransition(from: ConnectionState, to: ConnectionState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The one place the connection state changes; every change is reported to `onChange`. */
export class StateMachine {
  private current: ConnectionState = 'disconnected';

  constructor(private readonly onChange: (change: StateChange) => void) {}

  get state(): ConnectionState {
    return this.current;
  }

  /** Moves to `next`; returns false (and reports nothing) when already there. Throws on a transition the machine does not allow. */
  setState(next: ConnectionState, details: { reason?: string; error?: WebSocketClientError } = {}): boolean {
    const oldState = this.current;
    if (oldState === next) return false;
    if (!canTransition(oldState, next)) throw new Error(`Invalid connection state transition ${oldState} -> ${next}`);
    this.current = next;
    const change: StateChange = { oldState, newState: next };
    if (details.reason !== undefined) change.reason = details.reason;
    if (details.error !== undefined) change.error = details.error;
    this.onChange(change);
    return true;
  }
}
