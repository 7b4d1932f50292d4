/**
 * The one place that changes the internals of socket.io, engine.io and ws. Each
 * patch is written for the exact versions pinned in package.json, checks the installed copies before
 * it is applied, and acts only on the connections of the servers that turn it on
 * (`TRANSPORT_TUNING`). What each one earns: docs/performance.md.
 */
import type { TransportPatchName } from '../config.js';
import type { Logger } from '../logger.js';
import { directBroadcast } from './direct-broadcast.js';
import { handshakeRelease } from './handshake-release.js';
import { listenerCompaction } from './listener-compaction.js';
import type { AcceptingSocket, EstablishedSocket, TransportPatch, TunedServer } from './patch.js';
import { writeBatching } from './write-batching.js';

export type { EstablishedSocket, TunedServer } from './patch.js';

/** Every patch, in the order they are applied to a new connection (compaction last: it must follow every listener removal). */
export const TRANSPORT_PATCHES: readonly TransportPatch[] = [writeBatching, directBroadcast, handshakeRelease, listenerCompaction];

export interface TransportTuning {
  /** The patches applied, in order. */
  readonly applied: readonly TransportPatchName[];
  /** To call once a connection is established, when all its listeners are in place. */
  established(socket: EstablishedSocket): void;
  /** To call just before a connection is accepted (the handshake middleware's last step). */
  accepting(socket: AcceptingSocket): void;
}

export interface TuningOptions {
  /** The patches asked for (TRANSPORT_TUNING); empty: none. */
  wanted: readonly TransportPatchName[];
  /** Whether `handshake-release` may apply: the server process sets it; a library user keeps `socket.request` and the handshake unless it asks. */
  releaseHandshake: boolean;
  logger: Logger;
}

/**
 * Applies the wanted patches to one server and logs, once, which are active (`transport tuning: ...`).
 * A patch that no longer fits the installed modules is not applied, with a warning saying why.
 */
export function applyTransportTuning(server: TunedServer, options: TuningOptions): TransportTuning {
  const { logger } = options;
  const applied: TransportPatchName[] = [];
  const hooks: ((socket: EstablishedSocket) => void)[] = [];
  const beforeAccept: NonNullable<TransportPatch['accepting']>[] = [];
  for (const patch of TRANSPORT_PATCHES) {
    if (!options.wanted.includes(patch.name)) continue;
    if (patch === handshakeRelease && !options.releaseHandshake) continue;
    const reason = patch.check();
    if (reason !== undefined) {
      logger.warn({ patch: patch.name, reason }, `transport tuning: ${patch.name} not applied (${reason})`);
      continue;
    }
    const hook = patch.enable(server);
    if (hook) hooks.push(hook);
    if (patch.accepting) beforeAccept.push(patch.accepting);
    applied.push(patch.name);
  }
  logger.info({ transportTuning: applied }, `transport tuning: ${applied.length > 0 ? applied.join(', ') : 'off'}`);
  return {
    applied,
    established(socket) {
      for (const hook of hooks) hook(socket);
    },
    accepting(socket) {
      for (const hook of beforeAccept) hook(socket);
    },
  };
}
