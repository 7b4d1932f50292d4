import type { ClientErrorCode, WebSocketClientError } from './errors.js';

/**
 * - `disconnected`: not connected and not trying (initial state, and after `disconnect()`).
 * - `connecting`: opening the first connection of a session (after `connect()`), retrying until it succeeds.
 * - `connected`: connected, rooms re-joined; messages go out immediately.
 * - `reconnecting`: the connection was lost; retrying with backoff. Sends are queued.
 * - `failed`: the server refused the connection for good (`AUTH_REQUIRED`, `AUTH_INVALID`,
 *   `TENANT_MISMATCH`, or `AUTH_EXPIRED` without `getToken`), or `maxReconnectAttempts` attempts in a row
 *   failed (`RECONNECT_FAILED`). No retry until `connect()` is called again.
 */
export const CONNECTION_STATES = ['disconnected', 'connecting', 'connected', 'reconnecting', 'failed'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/**
 * Why a connection that was up is gone: Socket.IO's disconnect reasons (`io server disconnect`: the
 * server closed it, e.g. token expiry or a restart; `ping timeout`; `transport close`; `transport error`;
 * `parse error`), `resume failed` (it broke, or stopped answering, while rooms were being re-joined) and
 * `server restart` (the client left a draining server at the time its `system:restart` gave).
 */
export const CONNECTION_LOSS_REASONS = ['io server disconnect', 'ping timeout', 'transport close', 'transport error', 'parse error', 'resume failed', 'server restart'] as const;
export type ConnectionLossReason = (typeof CONNECTION_LOSS_REASONS)[number];

/**
 * Why the state changed:
 * - `connect`: `connect()` (or `autoConnect`) started a session (`connecting`);
 * - `connected`: the connection is up and every room re-joined (`connected`);
 * - `io client disconnect`: `disconnect()` was called (`disconnected`);
 * - a {@link ConnectionLossReason} (`reconnecting`);
 * - an error code (`failed`, and `error` holds the error): a terminal refusal such as `AUTH_INVALID`, or
 *   `RECONNECT_FAILED`.
 */
export type StateChangeReason = 'connect' | 'connected' | 'io client disconnect' | ConnectionLossReason | ClientErrorCode;

/** A Socket.IO disconnect reason as a {@link ConnectionLossReason} (anything unknown is `transport close`). */
export function lossReason(reason: string): ConnectionLossReason {
  return (CONNECTION_LOSS_REASONS as readonly string[]).includes(reason) ? (reason as ConnectionLossReason) : 'transport close';
}

export interface StateChange {
  oldState: ConnectionState;
  newState: ConnectionState;
  /** Why the state changed (the client always says). */
  reason?: StateChangeReason;
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
  setState(next: ConnectionState, details: { reason?: StateChangeReason; error?: WebSocketClientError } = {}): boolean {
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
