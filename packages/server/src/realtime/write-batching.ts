import { transports } from 'engine.io';

interface Corkable {
  cork(): void;
  uncork(): void;
}

type Send = (this: { socket?: { _socket?: Partial<Corkable> } }, packets: unknown[]) => void;

const patched = new WeakSet<object>();

/**
 * Engine.IO's WebSocket transport writes the packets it buffered while a write
 * was in flight with one `ws.send` each: N packets for one connection are N
 * socket writes (N system calls). This happens whenever a connection gets
 * several packets before its previous write has completed: a server that
 * handles several messages in one event-loop turn (under load, when a read
 * brings several frames) sends each member all but the first together. Corking
 * the connection's TCP socket around that loop makes them one `writev`: the
 * same bytes in the same order, the same callbacks, one system call.
 *
 * Patches the transport class once (its prototype), leaving a transport
 * without the fields it relies on (`socket._socket.cork`) as it was.
 */
export function batchBufferedWrites(): void {
  const proto = (transports as Record<string, { prototype: { send?: Send } } | undefined>).websocket?.prototype;
  if (!proto || patched.has(proto) || typeof proto.send !== 'function') return;
  const send = proto.send;
  proto.send = function (this: ThisParameterType<Send>, packets: unknown[]): void {
    const tcp = Array.isArray(packets) && packets.length > 1 ? this.socket?._socket : undefined;
    if (!tcp || typeof tcp.cork !== 'function' || typeof tcp.uncork !== 'function') return send.call(this, packets);
    tcp.cork();
    try {
      send.call(this, packets);
    } finally {
      tcp.uncork();
    }
  };
  patched.add(proto);
}
