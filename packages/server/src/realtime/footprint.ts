import type { IncomingMessage } from 'node:http';
import type { IoSocket } from './context.js';

/*
 * What an idle connection keeps alive. Most of it is Socket.IO's, Engine.IO's
 * and ws's own; the functions here drop what those libraries keep without
 * needing it, once a connection is established. Each one only touches fields
 * it checks first, so a library version without them makes it a no-op.
 */

/**
 * Drops every reference to the connection's initial HTTP request and the
 * listeners left over from the upgrade. Besides `conn.request`, Engine.IO's
 * upgrade handling leaves a one-time 'close' listener on the TCP socket whose
 * response object holds the request (and its raw headers) for the
 * connection's lifetime (it only tells Engine.IO middlewares that wait for the
 * response to close; the server's one middleware, the Origin check, answers at
 * once and keeps nothing), an `onUpgradeError` listener on the
 * WebSocket, redundant once the transport listens for errors itself, and the
 * transport's 'headers' listener, which only a polling transport ever emits to
 * (it decorates HTTP responses; a WebSocket transport has none).
 */
function releaseUpgradeRequest(socket: IoSocket): void {
  const conn = socket.conn as unknown as {
    request: IncomingMessage | null;
    transport?: {
      name?: string;
      removeAllListeners(ev: string): void;
      socket?: { listeners(ev: string): unknown[]; removeListener(ev: string, fn: unknown): void };
    };
  };
  const tcp = conn.request?.socket;
  conn.request = null;
  if (tcp) {
    for (const l of tcp.rawListeners('close') as ((...args: unknown[]) => void)[]) {
      const once = (l as { listener?: { name?: string } }).listener;
      // The only anonymous one-time 'close' listener left on an upgraded socket: ws's own are named.
      if (once && once.name === '') tcp.removeListener('close', l);
    }
  }
  if (conn.transport?.name !== 'websocket') return;
  conn.transport.removeAllListeners('headers');
  const ws = conn.transport.socket;
  if (ws && ws.listeners('error').length > 1) {
    for (const l of ws.listeners('error')) if ((l as { name?: string }).name === 'onUpgradeError') ws.removeListener('error', l);
  }
}

type Listeners = Record<string | symbol, unknown>;
interface Emitter {
  _events?: Listeners;
}

/**
 * Node's EventEmitter keeps its listeners in a null-prototype object, which V8
 * stores as a hash table (about 250 bytes, whatever the number of listeners).
 * The same listeners in an ordinary object with its prototype set to null
 * afterwards take a third of that, and behave the same for `emit`, `on` and
 * `removeListener`: V8 keeps it compact until a listener is removed (when it
 * becomes a hash table again, as before). Called once the connection's
 * listeners are all in place.
 */
export function compactListeners(emitter: unknown): void {
  const e = emitter as Emitter | null | undefined;
  const events = e?._events;
  if (!events || typeof events !== 'object' || Object.getPrototypeOf(events) !== null) return;
  const compact: Listeners = {};
  for (const key of Reflect.ownKeys(events)) compact[key] = events[key];
  Object.setPrototypeOf(compact, null);
  e!._events = compact;
}

/** ws's receiver state between frames (its `GET_INFO`). */
const RECEIVER_BETWEEN_FRAMES = 0;

/**
 * ws before 8.23 (the version Engine.IO 6.6 pins) keeps the last frame's mask,
 * a view into the chunk the socket delivered, until the next frame arrives: on
 * an idle connection, the chunk holding the CONNECT packet with its token for
 * the connection's lifetime. Between frames the mask is not read again (the
 * next frame brings its own), so it is dropped, as ws 8.23 does itself.
 */
function releaseLastMask(receiver: { _state?: number; _mask?: unknown } | undefined): void {
  if (receiver && receiver._state === RECEIVER_BETWEEN_FRAMES && receiver._mask !== undefined) receiver._mask = undefined;
}

/**
 * Called once at the end of the connection handler, when the connection's
 * listeners are all in place: drops the upgrade request and its leftover
 * listeners, then compacts the listener stores (a removal after compaction
 * would turn a store back into a hash table).
 */
export function trimConnection(socket: IoSocket): void {
  releaseUpgradeRequest(socket);
  const conn = socket.conn as unknown as {
    transport?: { name?: string; socket?: { _receiver?: { _state?: number; _mask?: unknown } } };
  };
  compactListeners(socket);
  compactListeners(conn);
  const transport = conn.transport;
  if (transport?.name !== 'websocket') return;
  compactListeners(transport);
  const ws = transport.socket;
  compactListeners(ws);
  // The TCP socket and ws's receiver are Node streams, whose listener stores are ordinary objects already.
  releaseLastMask(ws?._receiver);
}
