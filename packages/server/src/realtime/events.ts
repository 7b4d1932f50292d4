import type { ClientEventName } from '@intelgraph/websocket-protocol';
import { CodedError, toCoded, UnavailableError } from '../errors.js';
import type { IoSocket, RealtimeDeps } from './context.js';

/** An event handler: returns the success fields of the ack, or throws a CodedError. */
export type EventHandler = (socket: IoSocket, payload: unknown) => Promise<object> | object;

type Ack = (response: object) => void;

/** One listener for `socket.onAny`, shared by every connection (`this` is the socket). */
export type EventDispatcher = (this: IoSocket, event: unknown, ...args: unknown[]) => void;

interface Route {
  event: ClientEventName;
  handler: EventHandler;
  latency: { observe(ms: number): void };
  /** `messages_received` children by tenant label: looked up once per tenant, not per message. */
  received: Map<string, { inc(): void }>;
}

/** `events_refused` children by tenant label, shared by every event. */
type RefusedCounters = Map<string, { inc(): void }>;

/**
 * Routes every client event of a connection: finds the ack callback wherever
 * the client put it, answers `{ success: true, ... }` or `{ success: false,
 * error, message }`, reports failures without an ack as `system:error`, and
 * answers events the contract does not define with INVALID_PAYLOAD. Every event
 * is first charged to the connection's event budget (RATE_LIMITED when it is
 * spent). Never throws.
 *
 * One function serves all connections (installed with `socket.onAny`), so a
 * connection costs no closure per event.
 */
export function createDispatcher(deps: RealtimeDeps, handlers: Readonly<Record<ClientEventName, EventHandler>>): EventDispatcher {
  const { metrics, logger } = deps;
  const routes = new Map<string, Route>();
  const refused: RefusedCounters = new Map();
  const countRefused = (socket: IoSocket) => {
    const label = socket.data.tenantLabel;
    let c = refused.get(label);
    if (!c) refused.set(label, (c = metrics.eventsRefused.tally(label)));
    c.inc();
  };
  for (const [event, handler] of Object.entries(handlers) as [ClientEventName, EventHandler][]) {
    routes.set(event, { event, handler, latency: metrics.messageLatency.labels(event), received: new Map() });
  }

  function receivedCounter(route: Route, tenantLabel: string): { inc(): void } {
    let c = route.received.get(tenantLabel);
    if (!c) route.received.set(tenantLabel, (c = metrics.messagesReceived.tally(tenantLabel, route.event)));
    return c;
  }

  function run(socket: IoSocket, route: Route, args: unknown[]): void {
    const started = performance.now();
    receivedCounter(route, socket.data.tenantLabel).inc();
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as Ack) : undefined;
    const payload = args[0];
    const finish = (response: object) => {
      route.latency.observe(performance.now() - started);
      if (ack) ack(response);
    };
    const fail = (err: unknown) => {
      const coded = toCoded(err);
      const event = route.event;
      if (coded instanceof UnavailableError) logger.warn({ event }, coded.message);
      else if (coded.code === 'INTERNAL') logger.error({ err, event, socketId: socket.id, userId: socket.data.identity.userId, tenantId: socket.data.identity.tenantId }, 'event failed');
      metrics.errors.inc({ type: coded.code });
      countRefused(socket);
      if (ack) finish(coded.toAck());
      else socket.emit('system:error', { code: coded.code, message: `${event}: ${coded.message}` });
    };
    try {
      deps.limits.takeEvent(socket.data, route.event, payload);
      const result = route.handler(socket, payload);
      if (result instanceof Promise) result.then((r) => finish({ success: true, ...r }), fail);
      else finish({ success: true, ...result });
    } catch (err) {
      fail(err);
    }
  }

  function unknown(socket: IoSocket, event: unknown, args: unknown[]): void {
    const name = typeof event === 'string' ? event.slice(0, 64) : typeof event;
    let err: CodedError;
    try {
      deps.limits.takeEvent(socket.data, undefined, undefined);
      err = new CodedError('INVALID_PAYLOAD', `Unknown event "${name}"`);
    } catch (refused) {
      err = toCoded(refused);
    }
    metrics.errors.inc({ type: err.code });
    countRefused(socket);
    const ack = args[args.length - 1];
    if (typeof ack === 'function') (ack as Ack)(err.toAck());
    else socket.emit('system:error', { code: err.code, message: err.message });
  }

  return function dispatch(this: IoSocket, event: unknown, ...args: unknown[]): void {
    const route = typeof event === 'string' ? routes.get(event) : undefined;
    if (!route) return unknown(this, event, args);
    if (this.connected) run(this, route, args);
  };
}
