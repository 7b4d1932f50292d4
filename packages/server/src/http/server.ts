import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Config } from '../config.js';
import type { EngineGate } from './engine-gate.js';

/**
 * The HTTP(S) server every transport and route shares, with timeouts that end every connection in a
 * bounded time.
 */
export function createHttpTransport(config: Readonly<Config>): HttpServer {
  // Header and request timeouts are enforced by a periodic check (30 s by default): check every second, so a
  // request whose headers trickle in (slow-loris) is closed close to its timeout instead of up to 30 s later.
  const http: HttpServer = config.tls
    ? createHttpsServer({ ...config.tls, connectionsCheckingInterval: 1000 })
    : createHttpServer({ connectionsCheckingInterval: 1000 });
  http.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  // The headers of any request, a WebSocket upgrade included, are part of the handshake: never longer than HANDSHAKE_TIMEOUT.
  http.headersTimeout = Math.min(10_000, config.handshakeTimeoutMs);
  http.requestTimeout = 30_000;
  // An idle keep-alive connection ends after 5 s.
  http.keepAliveTimeout = 5_000;
  // No inactivity timer from the server for every TCP connection (`timeout`): a WebSocket connection has
  // its own heartbeat, and ws's switching the timer off leaves Node's cleared timer object on the socket
  // for the connection's lifetime (~170 bytes per idle connection). Requests get theirs in `serveRoutes`.
  http.timeout = 0;
  return http;
}

/**
 * How long a connection serving an HTTP request (a route, an Engine.IO handshake or long-poll) may stay
 * silent, e.g. a client that stopped reading its response: longer than a long-poll, which Engine.IO
 * answers within pingInterval. Node destroys the socket when it passes.
 */
export const REQUEST_IDLE_MS = 60_000;

/**
 * Requests the gate does not own (Socket.IO's path) go to the HTTP routes. Every request, the gate's
 * included, first arms its connection's inactivity timeout (`idleMs`).
 */
export function serveRoutes(http: HttpServer, gate: EngineGate, routes: (req: IncomingMessage, res: ServerResponse) => Promise<void>, idleMs = REQUEST_IDLE_MS): void {
  http.prependListener('request', (req) => {
    req.socket.setTimeout(idleMs);
  });
  http.on('request', (req, res) => {
    if (gate.owns(req)) return;
    void routes(req, res);
  });
}
