import { locate, versionMismatch } from './installed.js';
import type { EngineTransport, TransportPatch } from './patch.js';

/** ws's receiver state between frames (its `GET_INFO`). */
export const RECEIVER_BETWEEN_FRAMES = 0;

interface Receiver {
  _state?: number;
  _mask?: unknown;
}

/**
 * ws before 8.23 (8.21 is the version Engine.IO 6.6 requires) keeps the last frame's mask, a view into
 * the chunk the socket delivered, until the next frame arrives: on an idle connection, the chunk
 * holding the CONNECT packet with its token, for the connection's lifetime. Between frames the mask
 * is not read again (the next frame brings its own), so it is dropped, as ws 8.23 does itself.
 */
export const maskRelease: TransportPatch = {
  name: 'mask-release',
  check() {
    const version = versionMismatch(['engine.io', 'ws'], 'ws');
    if (version) return version;
    const Receiver = locate(['engine.io', 'ws'])?.load<{ Receiver?: new () => Receiver }>().Receiver;
    if (typeof Receiver !== 'function') return 'ws has no Receiver';
    const fresh = new Receiver();
    if (!('_mask' in fresh) || fresh._state !== RECEIVER_BETWEEN_FRAMES) return 'ws Receiver has no _mask, or does not start in state 0 (between frames)';
    return undefined;
  },
  enable() {
    return (socket) => {
      const transport = (socket.conn as { transport?: EngineTransport }).transport;
      if (transport?.name !== 'websocket') return;
      const receiver = transport.socket?._receiver;
      if (receiver && receiver._state === RECEIVER_BETWEEN_FRAMES && receiver._mask !== undefined) receiver._mask = undefined;
    };
  },
};
