import type { Server as HttpServer } from 'node:http';
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
  gate.install(http);
  return io;
}
