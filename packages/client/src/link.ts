import { requestError, WebSocketClientError } from './errors.js';
import type { ClientSocket } from './types.js';

/** A socket whose next emit waits at most the acknowledgement timeout. */
export type TimedSocket = ReturnType<ClientSocket['timeout']>;

/** What the parts of the client share: the connection, and how to ask the server something. */
export interface Link {
  /** The socket when connected with rooms re-joined (requests may go out), else undefined. */
  liveSocket(): ClientSocket | undefined;
  /** The socket of the current connection, ready or not. */
  currentSocket(): ClientSocket | undefined;
  /**
   * Emits on `socket` and waits for the acknowledgement (at most `timeoutMs`, default the client's
   * `ackTimeoutMs`); rejects with `NOT_CONNECTED` or `TIMEOUT`.
   */
  request<T>(socket: ClientSocket, send: (timed: TimedSocket) => Promise<T>, timeoutMs?: number): Promise<T>;
}

/** One acknowledged request, with failures mapped to coded errors. */
export async function acknowledged<T>(socket: ClientSocket, timeoutMs: number, send: (timed: TimedSocket) => Promise<T>): Promise<T> {
  if (!socket.connected) throw new WebSocketClientError('NOT_CONNECTED', 'Not connected');
  try {
    return await send(socket.timeout(timeoutMs));
  } catch (err) {
    throw requestError(err);
  }
}

/** The current connection's socket and whether it is ready, as every part of the client sees them; the connection sets both. */
export class CurrentSocket implements Link {
  socket: ClientSocket | undefined;
  /** Connected and rooms re-joined: requests and sends go out directly. */
  ready = false;

  constructor(private readonly ackTimeoutMs: number) {}

  liveSocket(): ClientSocket | undefined {
    return this.ready ? this.socket : undefined;
  }

  currentSocket(): ClientSocket | undefined {
    return this.socket;
  }

  request<T>(socket: ClientSocket, send: (timed: TimedSocket) => Promise<T>, timeoutMs?: number): Promise<T> {
    return acknowledged(socket, timeoutMs ?? this.ackTimeoutMs, send);
  }
}
