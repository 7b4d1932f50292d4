import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { Server, type ServerOptions } from 'socket.io';
import type { Config } from '../config.js';
import { SOCKET_IO_PATH, type EngineGate } from './engine-gate.js';
import type { IoServer } from '../realtime/context.js';

/** The Socket.IO server on `http`, behind the gate (origins, session admission, the path's 404s). */
export function createIoServer(http: HttpServer, config: Readonly<Config>, gate: EngineGate, adapter: ServerOptions['adapter'] | undefined): IoServer {
  const options: Partial<ServerOptions> = {
    path: SOCKET_IO_PATH,
    transports: ['polling', 'websocket'],
    serveClient: false,
    maxHttpBufferSize: config.maxHttpBufferSize,
    perMessageDeflate: config.perMessageDeflate,
    httpCompression: true,
    connectTimeout: config.handshakeTimeoutMs,
    pingInterval: 25_000,
    pingTimeout: 20_000,
    cors: gate.cors,
  };
  if (adapter) options.adapter = adapter;
  const io: IoServer = new Server(http, options);
  // Emitted for an accepted WebSocket upgrade just before ws writes its 101 answer; Engine.IO's open packet
  // follows in the same turn, each with a write of its own. Corked until the turn ends, they leave in one.
  // (Not earlier, at the gate: an upgrade Engine.IO refuses is answered with a write and a destroy, which
  // would discard a corked answer.)
  io.engine.on('headers', (_headers: unknown, req: IncomingMessage) => {
    if (req.headers.upgrade === undefined) return;
    const tcp = req.socket;
    tcp.cork();
    setImmediate(() => tcp.uncork());
  });
  gate.install(http);
  return io;
}
