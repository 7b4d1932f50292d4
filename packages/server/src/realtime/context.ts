import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, Metadata, PresenceStatus, ServerToClientEvents } from '@intelgraph/websocket-protocol';
import type { AuthorizeHook } from '../auth/authorize.js';
import type { Identity, TokenVerifier } from '../auth/verify.js';
import type { Config } from '../config.js';
import type { Engine, PublishLimits, RoomKey } from '../engine/types.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import type { MemoryRateLimiter, TokenBucket } from '../engine/memory/rate-limiter.js';

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
  /** Room name -> key, for the rooms this connection is in (or joining). */
  rooms: ReadonlyMap<string, RoomKey>;
  /** Label value for tenant metrics. */
  tenantLabel: string;
  closed: boolean;
  /** Made on the connection's first `room:send`: an idle connection pays for none of it. */
  sending: SendState | undefined;
}

/** What a connection that sends keeps from one `room:send` to the next. */
export interface SendState {
  /** The connection's own bucket (RATE_LIMIT_MESSAGES_*). */
  bucket: TokenBucket;
  /** The user's and the tenant's buckets as every send of this connection takes them; undefined when both are off. */
  limits: PublishLimits | undefined;
}

export type IoServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, ConnState>;
export type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, ConnState>;

/** What the real-time layer is built from (all made once in the composition root). */
export interface RealtimeDeps {
  config: Readonly<Config>;
  engine: Engine;
  metrics: Metrics;
  logger: Logger;
  verify: TokenVerifier;
  authorize?: AuthorizeHook;
  lifecycle: Lifecycle;
  /** Per-connection and per-address buckets stay in this process. */
  localLimiter: MemoryRateLimiter;
}
