import type { EventEmitter } from 'node:events';
import type { TransportPatchName } from '../config.js';

/** What a patch reaches of one Socket.IO server. */
export interface TunedServer {
  /** The HTTP(S) server it listens on: every connection's TCP socket names it (`socket.server`). */
  readonly http: object;
  /** The main namespace's adapter (its broadcasts). */
  readonly adapter: object;
}

/**
 * The HTTP servers whose connections are tuned, per class-level patch. A wrapper asks whether the
 * TCP socket it writes to belongs to one of them: another Socket.IO server in the same process is
 * left as it was, and no connection carries any state for it.
 */
export class TunedServers {
  readonly #servers = new WeakSet<object>();
  add(http: object): void {
    this.#servers.add(http);
  }
  /** Whether `tcp` (a TCP or TLS socket) was accepted by a tuned server. */
  has(tcp: { server?: unknown } | undefined): boolean {
    const server = tcp?.server;
    return typeof server === 'object' && server !== null && this.#servers.has(server);
  }
}

/** What a patch reaches of one established connection (a Socket.IO socket). */
export interface EstablishedSocket {
  readonly conn: object;
  readonly handshake: { auth: object; query: object; headers: object; url: string; time: string };
}

/** What a patch reaches of a connection about to be accepted. */
export interface AcceptingSocket {
  readonly conn: object;
}

/**
 * One change to socket.io / engine.io / ws internals. `check` looks at the
 * installed copies (version and the shape the patch relies on); a patch whose check fails is not
 * applied, and its test fails.
 */
export interface TransportPatch {
  readonly name: TransportPatchName;
  /** Why the patch does not apply to the installed modules, or undefined when it does. */
  check(): string | undefined;
  /** Turns the patch on for one server's connections; returns what to do to each one once established, if anything. */
  enable(server: TunedServer): ((socket: EstablishedSocket) => void) | undefined;
  /** What to do to a connection of a server the patch is on for, just before it is accepted (its CONNECT answer not yet written). */
  accepting?(socket: AcceptingSocket): void;
}

/** An Engine.IO transport; on WebSocket, `socket` is ws's WebSocket. */
export interface EngineTransport extends EventEmitter {
  readonly name: string;
  socket?: WsSocket;
}

/** ws's WebSocket, with the internals the patches touch. */
export interface WsSocket extends EventEmitter {
  _socket?: { cork?: () => void; uncork?: () => void; server?: unknown };
  _sender?: object;
  _receiver?: { _state?: number; _mask?: unknown };
}
