import type { ClientEventName } from '@intelgraph/websocket-protocol';
import { CodedError, toCoded, UnavailableError } from '../errors.js';
import type { IoSocket, RealtimeDeps } from './context.js';

/** An event handler: returns the success fields of the ack, or throws a CodedError. */
export type EventHandler = (socket: IoSocket, payload: unknown) => Promise<object> | object;

type Ack = (response: object) => void;

/**
 * Binds one client event: finds the ack callback wherever the client put it,
 * answers `{ success: true, ... }` or `{ success: false, error, message }`,
 * and reports failures without an ack as `system:error`. Never throws.
 */
export function bindEvent(socket: IoSocket, deps: RealtimeDeps, event: ClientEventName, handler: EventHandler): void {
  const { metrics, logger } = deps;
  const received = metrics.messagesReceived.labels(socket.data.tenantLabel, event);
  const latency = metrics.messageLatency.labels(event);
  (socket as unknown as { on(ev: string, fn: (...args: unknown[]) => void): void }).on(event, (...args: unknown[]) => {
    const started = performance.now();
    received.inc();
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as Ack) : undefined;
    const payload = args[0];
    const finish = (response: object) => {
      latency.observe(performance.now() - started);
      if (ack) ack(response);
    };
    const fail = (err: unknown) => {
      const coded = toCoded(err);
      if (coded instanceof UnavailableError) logger.warn({ event }, coded.message);
      else if (coded.code === 'INTERNAL') logger.error({ err, event, socketId: socket.id, userId: socket.data.identity.userId, tenantId: socket.data.identity.tenantId }, 'event failed');
      metrics.errors.inc({ type: coded.code });
      if (ack) finish(coded.toAck());
      else socket.emit('system:error', { code: coded.code, message: `${event}: ${coded.message}` });
    };
    try {
      const result = handler(socket, payload);
      if (result instanceof Promise) result.then((r) => finish({ success: true, ...r }), fail);
      else finish({ success: true, ...result });
    } catch (err) {
      fail(err);
    }
  });
}

/** Answers events the contract does not define with INVALID_PAYLOAD. */
export function bindUnknownEvents(socket: IoSocket, deps: RealtimeDeps, known: ReadonlySet<string>): void {
  socket.onAny((event: unknown, ...args: unknown[]) => {
    if (typeof event === 'string' && known.has(event)) return;
    const name = typeof event === 'string' ? event.slice(0, 64) : typeof event;
    deps.metrics.errors.inc({ type: 'INVALID_PAYLOAD' });
    const err = new CodedError('INVALID_PAYLOAD', `Unknown event "${name}"`);
    const ack = args[args.length - 1];
    if (typeof ack === 'function') (ack as Ack)(err.toAck());
    else socket.emit('system:error', { code: err.code, message: err.message });
  });
}
