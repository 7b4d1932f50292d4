import type { Logger } from '../logger.js';
import type { Lifecycle } from './lifecycle.js';

/** What draining needs of the Socket.IO server: its connections on this instance. */
export interface Drainable {
  of(namespace: '/'): { sockets: Map<string, { emit(event: 'system:restart', data: { reason: string; reconnectIn: number }): unknown }> };
  local: { disconnectSockets(close: boolean): void };
}

export interface DrainOptions {
  io: Drainable;
  lifecycle: Lifecycle;
  logger: Logger;
  reason: string;
  /** Longest time to wait for clients to leave before disconnecting them. */
  timeoutMs: number;
  /** `reconnectIn` is spread uniformly over [0, jitterMs] so clients do not return all at once. */
  jitterMs: number;
}

/**
 * Draining: readiness already answers 503 and new connections are refused
 * (the lifecycle is no longer `running`); every client is told to reconnect
 * elsewhere, and the server waits up to `timeoutMs` for them to go, then
 * disconnects those left on this instance.
 */
export async function drain(opts: DrainOptions): Promise<void> {
  const { io, lifecycle, logger } = opts;
  lifecycle.set('draining');
  const sockets = io.of('/').sockets;
  logger.info({ connections: sockets.size, timeoutMs: opts.timeoutMs }, 'draining');
  for (const socket of sockets.values()) {
    socket.emit('system:restart', { reason: opts.reason, reconnectIn: Math.floor(Math.random() * (opts.jitterMs + 1)) });
  }
  const deadline = Date.now() + opts.timeoutMs;
  while (sockets.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
  }
  if (sockets.size > 0) {
    logger.info({ connections: sockets.size }, 'drain timeout: disconnecting remaining clients');
    io.local.disconnectSockets(true);
    // Let the disconnect packets and presence cleanup go out.
    await new Promise((r) => setTimeout(r, 50));
  }
}
