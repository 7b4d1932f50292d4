import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, Metadata, PresenceStatus, ServerToClientEvents } from '@intelgraph/websocket-protocol';
import type { AuthorizeHook } from '../auth/authorize.js';
import type { BackendAuthorization } from '../auth/proxy.js';
import type { Identity, TokenVerifier } from '../auth/verify.js';
import type { Config } from '../config.js';
import type { Engine, RoomKey } from '../engine/types.js';
import type { ConnectionLimits, Limits } from '../limits/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import type { RefusalLog } from '../refusal-log.js';
import type { WebhookTap } from '../webhooks/index.js';

/**
 * The rooms of a connection that joined none: one shared map, never written
 * (a connection gets a map of its own on its first join), so an idle
 * connection costs no Map.
 */
export const NO_ROOMS: ReadonlyMap<string, RoomKey> = new Map();

/** Per-connection state, kept small: it lives as long as the connection. */
export interface ConnState {
  identity: Identity;
  status: PresenceStatus;
  metadata?: Metadata;
  /** Room name -> key, for the rooms this connection is in. */
  rooms: ReadonlyMap<string, RoomKey>;
  /**
   * Room name -> the metadata of the connection's `room:join` of that room, for the rooms joined with
   * metadata since the last `presence:status` with metadata (which replaces it in every room); made on
   * the first such join. What the maintenance rounds re-assert; elsewhere the connection's `metadata`.
   */
  roomMetadata?: Map<string, Metadata>;
  /** Joins in flight by room, so a second join of the same room waits for the first; undefined when none. */
  joining: Map<string, Promise<unknown>> | undefined;
  /** Label value for tenant metrics. */
  tenantLabel: string;
  closed: boolean;
  /** Made on the connection's first limited event. */
  limits: ConnectionLimits | undefined;
  /** Set by the handshake when this is the user's first connection in the deployment; cleared once the connection is announced. */
  first?: true;
}

/** Events between instances (`serverSideEmit`): actions on connections wherever they are (control.ts). */
export interface ServerSideEvents {
  'connections:control': (command: unknown) => void;
}

export type IoServer = Server<ClientToServerEvents, ServerToClientEvents, ServerSideEvents, ConnState>;
export type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, ServerSideEvents, ConnState>;

/** What the real-time layer is built from (all made once in the composition root). */
export interface RealtimeDeps {
  config: Readonly<Config>;
  engine: Engine;
  limits: Limits;
  metrics: Metrics;
  logger: Logger;
  refusals: RefusalLog;
  verify: TokenVerifier;
  authorize?: AuthorizeHook;
  /** The application's backend deciding connects, joins and sends (AUTH_PROXY_URL...). */
  backend?: BackendAuthorization;
  lifecycle: Lifecycle;
  /** Told of presence changes, connections and messages, to make webhook events of them. */
  webhooks?: WebhookTap;
  /** Called once a connection is established, with every listener it keeps in place (the transport tuning's per-connection patches). */
  established?: (socket: IoSocket) => void;
  /** Called just before a connection is accepted, its CONNECT answer not yet written (the transport tuning's). */
  accepting?: (socket: IoSocket) => void;
}
