/*
 * Direct broadcast: one pre-built WebSocket frame per broadcast, written straight to each
 * member's TCP socket, the socket corked until the end of the event-loop turn.
 *
 * Socket.IO's own path costs, per member: a packet object pushed to Engine.IO's write
 * buffer, a flush (two events), the transport's send, ws's sendFrame and a socket write
 * with its callback, after which the transport is not writable until libuv has written the
 * bytes, so that every other packet for the connection in the same turn waits in the buffer
 * for a later flush. Under load that is most of the server's CPU per delivery. A member
 * whose connection is in a plain state gets the same bytes with one `write` instead;
 * its writes of one turn leave in one `writev` at the end of the turn.
 *
 * The direct write is taken only when nothing can be overtaken: the connection is open on
 * the WebSocket transport, not upgrading, without permessage-deflate, with nothing in
 * Engine.IO's write buffer and nothing in ws's send queue. A write Engine.IO has in flight
 * is already in the TCP socket's buffer, so a direct write goes after it; a packet Engine.IO
 * buffers afterwards goes after the direct write. Every other connection (long-polling,
 * upgrading, packets pending, compression) takes Engine.IO's own path, with the same frame
 * pre-built. Volatile packets keep Socket.IO's rule: dropped while the transport is not
 * writable. Slow consumers are still seen: ws's `bufferedAmount` counts the TCP socket's
 * buffer, where unread direct writes wait.
 *
 * This reads the internals of engine.io (`writeBuffer`, `upgrading`, the transport's
 * `socket`, `writable`, `perMessageDeflate`) and ws (`_socket`, `_sender`), and Socket.IO's
 * `writeToEngine` and `notifyOutgoingListeners`: it applies only to the versions it was
 * written for, and `TRANSPORT_TUNING` without `direct-broadcast` turns it off.
 *
 * The adapter is Socket.IO's public extension point for broadcasts (as the Redis adapters
 * extend it): the patch makes the main namespace's adapter an instance of a subclass of its own
 * class, whose `broadcast` does the above. On the in-memory adapter every broadcast is local;
 * on the Redis adapters only broadcasts flagged `local` (the room messages, which the room
 * stream already brought to every instance) take it, the others keep the adapter's own
 * `broadcast`, which publishes them. Socket.IO's session-aware adapter (connection state
 * recovery, which stores broadcasts) is left alone.
 */
import type { Adapter, BroadcastOptions } from 'socket.io-adapter';
import { locate, versionMismatch } from './installed.js';
import type { TransportPatch } from './patch.js';

/** One unmasked, final text frame (RFC 6455 §5.2) holding `text`: header and payload in one buffer. */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text, 'utf8');
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (length < 126) frame[1] = length;
  else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, header, 'utf8');
  return frame;
}

interface TcpSocket {
  readonly destroyed: boolean;
  readonly writable: boolean;
  readonly writableCorked: number;
  cork(): void;
  uncork(): void;
  write(chunk: Buffer): boolean;
}

/** What this module reads of an Engine.IO connection, its transport, ws and the TCP socket. */
interface EngineConnection {
  readyState?: string;
  upgrading?: boolean;
  writeBuffer?: unknown[];
  transport?: {
    name?: string;
    writable?: boolean;
    perMessageDeflate?: unknown;
    socket?: {
      readyState?: number;
      _socket?: TcpSocket;
      _sender?: { _state?: number; _queue?: unknown[] };
    };
  };
}

interface BroadcastTarget {
  conn: unknown;
  client: unknown;
  notifyOutgoingListeners?: unknown;
}

type EncodedPacket = string | Buffer;
interface PacketOptions {
  preEncoded: true;
  volatile?: boolean;
  compress?: boolean;
  wsPreEncodedFrame?: Buffer[];
}

const WS_OPEN = 1;
const SENDER_IDLE = 0;

/** The TCP sockets corked this turn, uncorked together when the turn ends. */
const corked: TcpSocket[] = [];
function uncorkAll(): void {
  for (let i = 0; i < corked.length; i++) corked[i]!.uncork();
  corked.length = 0;
}

/**
 * The TCP socket a broadcast may be written to directly, or undefined when it must take
 * Engine.IO's path (see the module comment for why each condition is there).
 */
export function directSocket(connection: unknown, volatile: boolean): TcpSocket | undefined {
  const conn = connection as EngineConnection;
  const transport = conn.transport;
  if (conn.readyState !== 'open' || conn.upgrading !== false || transport?.name !== 'websocket') return undefined;
  if (transport.perMessageDeflate || conn.writeBuffer?.length !== 0) return undefined;
  // A volatile packet is dropped by Socket.IO while the transport is not writable: left to it.
  if (volatile && transport.writable !== true) return undefined;
  const ws = transport.socket;
  if (ws?.readyState !== WS_OPEN || ws._sender?._state !== SENDER_IDLE || ws._sender._queue?.length !== 0) return undefined;
  const tcp = ws._socket;
  if (!tcp || tcp.destroyed || !tcp.writable) return undefined;
  return tcp;
}

/** Corks `tcp` until the end of this event-loop turn: its writes until then leave in one `writev`. */
function corkForTurn(tcp: TcpSocket): void {
  if (tcp.writableCorked !== 0) return;
  if (corked.length === 0) setImmediate(uncorkAll);
  tcp.cork();
  corked.push(tcp);
}

/** Writes `frame` to `tcp`, corked until the end of this event-loop turn (one `writev` for the turn's writes). */
export function writeInTurn(tcp: TcpSocket, frame: Buffer): void {
  corkForTurn(tcp);
  tcp.write(frame);
}

/** Counts of deliveries by path, for tests and the bench's profiles. */
export const directStats = { direct: 0, engine: 0 };

type AdapterClass = new (nsp: never, ...rest: never[]) => Adapter;

/**
 * `Base` with a `broadcast` that writes each member's frame directly where it can. Broadcasts
 * that must reach other instances (not `local`, on an adapter that publishes) and packets
 * that are not one text frame (binary attachments) take `Base`'s own `broadcast`.
 */
export function withDirectBroadcast<T extends AdapterClass>(Base: T, publishes: boolean): T {
  // The mixin's class has to be anonymous and generic over the base's constructor.
  return class DirectBroadcast extends (Base as AdapterClass) {
    override broadcast(packet: { nsp?: string; type: number; data?: unknown; id?: number }, opts: BroadcastOptions): void {
      const flags = opts.flags ?? {};
      if (publishes && flags.local !== true) return super.broadcast(packet, opts);
      const nsp = this.nsp as { name: string; sockets: Map<string, BroadcastTarget>; server: { encoder: { encode(p: unknown): EncodedPacket[] } } };
      packet.nsp = nsp.name;
      const encoded = nsp.server.encoder.encode(packet);
      if (encoded.length !== 1 || typeof encoded[0] !== 'string') return super.broadcast(packet, opts);
      // "4": the Engine.IO message packet type.
      const frame = textFrame(`4${encoded[0]}`);
      const volatile = flags.volatile === true;
      const packetOpts: PacketOptions = { preEncoded: true, volatile: flags.volatile, compress: flags.compress, wsPreEncodedFrame: [frame] };
      const deliver = (socket: BroadcastTarget): void => {
        if (typeof socket.notifyOutgoingListeners === 'function') (socket.notifyOutgoingListeners as (p: unknown) => void).call(socket, packet);
        const tcp = directSocket(socket.conn, volatile);
        if (tcp) {
          directStats.direct++;
          writeInTurn(tcp, frame);
        } else {
          directStats.engine++;
          (socket.client as { writeToEngine(p: EncodedPacket[], o: PacketOptions): void }).writeToEngine(encoded, packetOpts);
        }
      };
      forEachMember(this, nsp.sockets, opts, deliver);
    }
  } as unknown as T;
}

/** The sockets of `opts.rooms` (every socket when none), without those of `opts.except`, each once: the adapter's `apply`. */
function forEachMember(adapter: Adapter, sockets: Map<string, BroadcastTarget>, opts: BroadcastOptions, fn: (s: BroadcastTarget) => void): void {
  const except = new Set<string>();
  for (const room of opts.except ?? []) for (const id of adapter.rooms.get(room) ?? []) except.add(id);
  const visit = (id: string): void => {
    if (except.has(id)) return;
    const socket = sockets.get(id);
    if (socket) fn(socket);
  };
  if (opts.rooms.size === 0) {
    for (const id of adapter.sids.keys()) visit(id);
    return;
  }
  if (opts.rooms.size === 1) {
    // One room: its members are distinct already.
    for (const room of opts.rooms) for (const id of adapter.rooms.get(room) ?? []) visit(id);
    return;
  }
  const seen = new Set<string>();
  for (const room of opts.rooms) {
    for (const id of adapter.rooms.get(room) ?? []) {
      if (seen.has(id)) continue;
      seen.add(id);
      visit(id);
    }
  }
}

type AdapterModule = { Adapter: AdapterClass; SessionAwareAdapter?: AdapterClass };

export const directBroadcast: TransportPatch = {
  name: 'direct-broadcast',
  check() {
    const mismatch =
      versionMismatch(['socket.io'], 'socket.io') ??
      versionMismatch(['socket.io', 'socket.io-adapter'], 'socket.io-adapter') ??
      versionMismatch(['socket.io', 'engine.io'], 'engine.io') ??
      versionMismatch(['engine.io', 'ws'], 'ws');
    if (mismatch) return mismatch;
    const mod = locate(['socket.io', 'socket.io-adapter'])?.load<Partial<AdapterModule>>();
    if (typeof mod?.Adapter?.prototype.broadcast !== 'function') return 'socket.io-adapter has no Adapter#broadcast';
    return undefined;
  },
  enable(server) {
    const { Adapter, SessionAwareAdapter } = locate(['socket.io', 'socket.io-adapter'])!.load<AdapterModule>();
    const adapter = server.adapter;
    if (!(adapter instanceof Adapter) || (SessionAwareAdapter && adapter instanceof SessionAwareAdapter)) return undefined;
    const own = adapter.constructor as AdapterClass;
    let sub = subclasses.get(own);
    if (!sub) {
      sub = withDirectBroadcast(own, own !== Adapter);
      subclasses.set(own, sub);
    }
    Object.setPrototypeOf(adapter, sub.prototype);
    return undefined;
  },
  /**
   * A connection about to be accepted (its handshake middleware done): its TCP socket is corked for
   * the rest of the turn, so that Socket.IO's CONNECT answer, written now through Engine.IO and ws, and
   * the first event the server broadcasts to it in the same turn (`connection:established`, which then
   * takes the direct path: Engine.IO has nothing buffered and ws nothing queued) leave in one write.
   * Without it the event waits in Engine.IO's buffer until the CONNECT write's callback, and goes in a
   * second write.
   */
  accepting(socket) {
    const tcp = directSocket(socket.conn, false);
    if (tcp) corkForTurn(tcp);
  },
};

/** One subclass per adapter class. */
const subclasses = new WeakMap<AdapterClass, AdapterClass>();
