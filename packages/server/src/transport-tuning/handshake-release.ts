import type { IncomingMessage } from 'node:http';
import { versionMismatch } from './installed.js';
import type { EngineTransport, TransportPatch } from './patch.js';

/** What a connection's handshake keeps of its auth, query and headers once it is established. */
const EMPTY: Record<string, never> = Object.freeze({});

/** The name of the listener engine.io puts on a WebSocket until its transport takes over errors. */
export const UPGRADE_ERROR_LISTENER = 'onUpgradeError';

interface Conn {
  request: IncomingMessage | null;
  transport?: EngineTransport;
}

/**
 * Engine.IO's upgrade handling leaves a one-time 'close' listener on the TCP socket (its
 * `WebSocketResponse`, for middlewares waiting for the response to close) whose closure holds the
 * response and so the request for the connection's lifetime: the only anonymous one-time 'close'
 * listener on an upgraded socket (ws's own are named). The server's one Engine.IO middleware, the
 * origin check, answers at once and waits for no close. Returns how many it removed.
 */
export function removeResponseCloseListener(tcp: NodeJS.EventEmitter): number {
  let removed = 0;
  for (const l of tcp.rawListeners('close') as ((...args: unknown[]) => void)[]) {
    const once = (l as { listener?: { name?: string } }).listener;
    if (once && once.name === '') {
      tcp.removeListener('close', l);
      removed++;
    }
  }
  return removed;
}

/**
 * Engine.IO leaves `onUpgradeError` on the WebSocket once the transport listens for errors itself
 * (it removes it only on an upgrade from polling). Returns how many it removed.
 */
export function removeUpgradeErrorListener(ws: NodeJS.EventEmitter): number {
  const listeners = ws.listeners('error');
  // Never the WebSocket's last error listener: an error without one would throw.
  if (listeners.length < 2) return 0;
  let removed = 0;
  for (const l of listeners) {
    if ((l as { name?: string }).name === UPGRADE_ERROR_LISTENER) {
      ws.removeListener('error', l as (...args: unknown[]) => void);
      removed++;
    }
  }
  return removed;
}

/**
 * Once a connection is established, keeps nothing of its handshake that it does not use: no token
 * (auth, query or Authorization header), no headers such as a browser's cookies, no request URL or
 * formatted time, for the connection's lifetime. Drops every reference to the initial HTTP request:
 * `conn.request` (so `socket.request` is null afterwards), the response's 'close' listener,
 * `onUpgradeError`, and the transport's 'headers' listener, which only a polling transport ever
 * emits to (it decorates HTTP responses; a WebSocket transport has none).
 *
 * The server process turns it on; a library user (`createServer`) keeps the handshake and the
 * request unless `releaseHandshake` is set (docs/performance.md).
 */
export const handshakeRelease: TransportPatch = {
  name: 'handshake-release',
  check() {
    return versionMismatch(['socket.io'], 'socket.io') ?? versionMismatch(['engine.io'], 'engine.io');
  },
  enable() {
    return (socket) => {
      const hs = socket.handshake;
      hs.auth = EMPTY;
      hs.query = EMPTY;
      hs.headers = EMPTY;
      hs.url = '';
      hs.time = '';
      const conn = socket.conn as Conn;
      const tcp = conn.request?.socket;
      conn.request = null;
      if (tcp) removeResponseCloseListener(tcp);
      const transport = conn.transport;
      if (transport?.name !== 'websocket') return;
      transport.removeAllListeners('headers');
      if (transport.socket) removeUpgradeErrorListener(transport.socket);
    };
  },
};
