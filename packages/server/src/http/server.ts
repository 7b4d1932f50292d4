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
  // An idle keep-alive connection ends after 5 s, and any that stays silent for a minute (longer than a
  // long-poll, which Engine.IO answers within pingInterval), e.g. one whose client stopped reading its
  // response. WebSocket connections have their own heartbeat (ws turns this timeout off for them).
  http.keepAliveTimeout = 5_000;
  http.timeout = 60_000;
  return http;
}

/** Requests the gate does not own (Socket.IO's path) go to the HTTP routes. */
export function serveRoutes(http: HttpServer, gate: EngineGate, routes: (req: IncomingMessage, res: ServerResponse) => Promise<void>): void {
  http.on('request', (req, res) => {
    if (gate.owns(req)) return;
    void routes(req, res);
  });
}
