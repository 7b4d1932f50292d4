import { versionMismatch, locate } from './installed.js';
import { TunedServers, type EngineTransport, type TransportPatch } from './patch.js';

type Send = (this: EngineTransport, packets: unknown[]) => void;
interface Transports {
  websocket?: { prototype: { send?: Send } };
}

/** The servers with write batching on. */
const batched = new TunedServers();
let wrapped = false;

function websocketPrototype(): { send?: Send } | undefined {
  return locate(['engine.io'])?.load<{ transports?: Transports }>().transports?.websocket?.prototype;
}

/**
 * Engine.IO's WebSocket transport writes the packets it buffered while a write was in flight with one
 * `ws.send` each: N packets for one connection are N socket writes (N system calls). This happens
 * whenever a connection gets several packets before its previous write has completed: a server that
 * handles several messages in one event-loop turn (under load) sends each member all but the first
 * together. Corking the connection's TCP socket around that loop makes them one `writev`: the same
 * bytes in the same order, the same callbacks, one system call.
 *
 * The transport class is wrapped once; the wrapper corks only the connections of servers that turned
 * the patch on.
 */
export const writeBatching: TransportPatch = {
  name: 'write-batching',
  check() {
    const version = versionMismatch(['engine.io'], 'engine.io');
    if (version) return version;
    if (typeof websocketPrototype()?.send !== 'function') return 'engine.io has no WebSocket transport send(packets)';
    return undefined;
  },
  enable(server) {
    const proto = websocketPrototype()!;
    if (!wrapped) {
      const send = proto.send!;
      proto.send = function (this: EngineTransport, packets: unknown[]): void {
        const tcp = packets.length > 1 ? this.socket?._socket : undefined;
        if (!tcp || !batched.has(tcp) || typeof tcp.cork !== 'function' || typeof tcp.uncork !== 'function') return send.call(this, packets);
        tcp.cork();
        try {
          send.call(this, packets);
        } finally {
          tcp.uncork();
        }
      };
      wrapped = true;
    }
    batched.add(server.http);
    return undefined;
  },
};
