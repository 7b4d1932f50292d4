import { fail } from './config-parse.js';
import type { Env, TransportPatchName } from './config-schema.js';

/** How Socket.IO connections are kept and closed, and how large their packets and buffers may grow. */
export interface ConnectionsConfig {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  shutdownTimeoutMs: number;
  reconnectJitterMs: number;
  handshakeTimeoutMs: number;
  maxMessageBytes: number;
  maxHttpBufferSize: number;
  writeBufferLimit: number;
  perMessageDeflate: boolean;
  /** The patches to socket.io / engine.io / ws internals to apply (TRANSPORT_TUNING); empty: none. */
  transportTuning: readonly TransportPatchName[];
}

/** Heartbeats (the timeout longer than the interval), timeouts, sizes, compression and transport tuning. */
export function connectionsConfig(r: Env): ConnectionsConfig {
  if (r.HEARTBEAT_TIMEOUT <= r.HEARTBEAT_INTERVAL) fail('HEARTBEAT_TIMEOUT', 'must be greater than HEARTBEAT_INTERVAL');
  return {
    heartbeatIntervalMs: r.HEARTBEAT_INTERVAL,
    heartbeatTimeoutMs: r.HEARTBEAT_TIMEOUT,
    shutdownTimeoutMs: r.SHUTDOWN_TIMEOUT,
    reconnectJitterMs: r.RECONNECT_JITTER,
    handshakeTimeoutMs: r.HANDSHAKE_TIMEOUT,
    maxMessageBytes: r.MAX_MESSAGE_BYTES,
    // Room for the event name, the other fields and framing around one maximal payload.
    // With MAX_MESSAGE_BYTES=0 (no payload limit) packets are still bounded, at 16 MiB unless MAX_HTTP_BUFFER_SIZE says otherwise.
    maxHttpBufferSize: r.MAX_HTTP_BUFFER_SIZE || (r.MAX_MESSAGE_BYTES === 0 ? 16_777_216 : Math.max(r.MAX_MESSAGE_BYTES, 16_384) * 2 + 16_384),
    writeBufferLimit: r.WRITE_BUFFER_LIMIT,
    perMessageDeflate: r.WS_PER_MESSAGE_DEFLATE,
    transportTuning: r.TRANSPORT_TUNING,
  };
}
