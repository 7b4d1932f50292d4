import type { EventEmitter } from 'node:events';
import type { TransportPatchName } from '../config.js';

/** What a patch reaches of one Socket.IO server. */
export interface TunedServer {
  /** Engine.IO's server: emits 'connection' with each new Engine.IO socket. */
  readonly engine: EventEmitter;
  /** The main namespace's adapter (broadcasts). */
  readonly adapter: object;
}

/** What a patch reaches of one established connection (a Socket.IO socket). */
export interface EstablishedSocket {
  readonly conn: object;
  readonly handshake: { auth: object; query: object; headers: object; url: string; time: string };
}

/**
 * One change to socket.io / engine.io / ws / socket.io-adapter internals. `check` looks at the
 * installed copies (version and the shape the patch relies on); a patch whose check fails is not
 * applied, and its test fails.
 */
export interface TransportPatch {
  readonly name: TransportPatchName;
  /** Why the patch does not apply to the installed modules, or undefined when it does. */
  check(): string | undefined;
  /** Turns the patch on for one server's connections; returns what to do to each one once established, if anything. */
  enable(server: TunedServer): ((socket: EstablishedSocket) => void) | undefined;
}

/** An Engine.IO socket as these patches see it. */
export interface EngineSocket extends EventEmitter {
  transport: EngineTransport;
  request: unknown;
}

/** An Engine.IO transport; on WebSocket, `socket` is ws's WebSocket. */
export interface EngineTransport extends EventEmitter {
  readonly name: string;
  socket?: WsSocket;
}

/** ws's WebSocket, with the internals the patches touch. */
export interface WsSocket extends EventEmitter {
  _socket?: { cork?: () => void; uncork?: () => void };
  _sender?: object;
  _receiver?: { _state?: number; _mask?: unknown };
}

/**
 * Calls `fn` with every WebSocket transport of `server`'s connections: the first one of a session, or
 * the one a polling session upgrades to.
 */
export function eachWebSocketTransport(server: TunedServer, fn: (transport: EngineTransport) => void): void {
  server.engine.on('connection', (session: EngineSocket) => {
    if (session.transport.name === 'websocket') fn(session.transport);
    else session.once('upgrade', (transport: EngineTransport) => fn(transport));
  });
}
