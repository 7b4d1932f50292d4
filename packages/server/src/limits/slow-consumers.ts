import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

/** Packets queued for a polling client (which has no byte count) that count as a slow consumer. */
const MAX_POLLING_PACKETS = 10_000;

/** A connection as the slow-consumer watch sees it. */
export interface WatchedConnection {
  readonly id: string;
  readonly conn: unknown;
  emit(event: 'system:error', data: { code: 'RATE_LIMITED'; message: string }): unknown;
  disconnect(close: boolean): unknown;
}

/**
 * Output waiting for one client: bytes the websocket has not flushed plus the
 * packets Engine.IO holds back while its transport is not writable (a client
 * that stops reading keeps it so), with their approximate size.
 */
export function pendingOutput(connection: Pick<WatchedConnection, 'conn'>): { bytes: number; packets: number } {
  const conn = connection.conn as {
    transport?: { name?: string; socket?: { bufferedAmount?: number } };
    writeBuffer?: { data?: unknown }[];
  };
  let bytes = conn.transport?.name === 'websocket' ? (conn.transport.socket?.bufferedAmount ?? 0) : 0;
  const queued = conn.writeBuffer ?? [];
  for (const p of queued) {
    if (typeof p.data === 'string') bytes += p.data.length;
    else if (p.data instanceof Uint8Array) bytes += p.data.byteLength;
  }
  return { bytes, packets: queued.length };
}

/**
 * Slow consumers: a client that does not read what it is sent would make the
 * server buffer without bound. Every second, connections whose pending output
 * exceeds `limitBytes` (WRITE_BUFFER_LIMIT) are disconnected, after a
 * `system:error` RATE_LIMITED that says why, if it can still get through.
 */
export function watchSlowConsumers(
  connections: () => Iterable<WatchedConnection>,
  opts: { limitBytes: number; logger: Logger; metrics: Metrics; intervalMs?: number },
): () => void {
  if (opts.limitBytes <= 0) return () => {};
  const timer = setInterval(() => {
    for (const socket of connections()) {
      const { bytes, packets } = pendingOutput(socket);
      if (bytes <= opts.limitBytes && packets <= MAX_POLLING_PACKETS) continue;
      opts.metrics.errors.inc({ type: 'RATE_LIMITED' });
      opts.metrics.rateLimited.inc({ scope: 'slow_consumer' });
      opts.logger.warn({ connectionId: socket.id, pendingBytes: bytes, pendingPackets: packets }, 'slow consumer disconnected');
      socket.emit('system:error', { code: 'RATE_LIMITED', message: 'Slow consumer: too much unread output, disconnecting' });
      socket.disconnect(true);
      // The transport may never drain: do not wait for it.
      (socket.conn as { close?: () => void }).close?.();
    }
  }, opts.intervalMs ?? 1000);
  timer.unref();
  return () => clearInterval(timer);
}
