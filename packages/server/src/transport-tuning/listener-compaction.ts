import { EventEmitter } from 'node:events';
import { versionMismatch } from './installed.js';
import type { EngineTransport, TransportPatch } from './patch.js';

type Listeners = Record<string | symbol, unknown>;

/**
 * Node's EventEmitter keeps its listeners in a null-prototype object, which V8 stores as a hash table
 * (about 250 bytes, whatever the number of listeners). The same listeners in an ordinary object with
 * its prototype set to null afterwards take a third of that, and behave the same for `emit`, `on` and
 * `removeListener`: V8 keeps it compact until a listener is removed (when it becomes a hash table
 * again, as before). Leaves anything that is not such a store alone.
 */
export function compactListeners(emitter: unknown): void {
  const e = emitter as { _events?: Listeners } | null | undefined;
  const events = e?._events;
  if (!events || typeof events !== 'object' || Object.getPrototypeOf(events) !== null) return;
  const compact: Listeners = {};
  for (const key of Reflect.ownKeys(events)) compact[key] = events[key];
  Object.setPrototypeOf(compact, null);
  e!._events = compact;
}

/**
 * Compacts the listener stores of the connection's Socket.IO socket, Engine.IO socket and transport and
 * ws WebSocket, once every listener the connection keeps is in place (the last patch applied to a new
 * connection: a removal after it would turn a store back into a hash table). The TCP socket and ws's
 * receiver are Node streams, whose stores are ordinary objects already.
 */
export const listenerCompaction: TransportPatch = {
  name: 'listener-compaction',
  check() {
    const version = versionMismatch(['socket.io'], 'socket.io') ?? versionMismatch(['engine.io'], 'engine.io') ?? versionMismatch(['engine.io', 'ws'], 'ws');
    if (version) return version;
    const store = (new EventEmitter() as unknown as { _events?: object })._events;
    if (!store || Object.getPrototypeOf(store) !== null) return "Node's EventEmitter keeps no null-prototype _events";
    return undefined;
  },
  enable() {
    return (socket) => {
      const conn = socket.conn as { transport?: EngineTransport };
      compactListeners(socket);
      compactListeners(conn);
      const transport = conn.transport;
      if (transport?.name !== 'websocket') return;
      compactListeners(transport);
      compactListeners(transport.socket);
    };
  },
};
