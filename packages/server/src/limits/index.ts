import type { ClientEventName } from '@intelgraph/websocket-protocol';
import type { Identity } from '../auth/verify.js';
import type { Config } from '../config.js';
import { RateRefusedError } from '../engine/rate-refused.js';
import { TokenBucket } from '../engine/token-bucket.js';
import type { Acquired, ConnectionRegistry, PublishLimits, Released } from '../engine/types.js';
import { CodedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RefusalLog } from '../refusal-log.js';
import { addressKey } from './address.js';
import { eventCost } from './events.js';
import { LocalBuckets } from './local-buckets.js';
import { OverloadGuard } from './overload.js';
import { SessionGuard } from './sessions.js';
import { watchSlowConsumers, type WatchedConnection } from './slow-consumers.js';

export { clientAddress } from './address.js';
export type { EngineSession, SessionRefusal } from './sessions.js';
export { createApiLimits, type ApiLimits } from './api.js';
export { createDevTokenLimits } from './dev-tokens.js';

/**
 * What a connection keeps for its limits, made on its first limited event: an idle connection pays
 * for none of it.
 */
export interface ConnectionLimits {
  /** The connection's event budget (every event but `room:send`). */
  events: TokenBucket | undefined;
  /** The connection's own `room:send` bucket (RATE_LIMIT_MESSAGES_*). */
  sends: TokenBucket | undefined;
  /** The user's and the tenant's buckets as every send of this connection takes them; null when both are off. */
  publish: PublishLimits | null | undefined;
  /** Joins in flight: they hold a place under MAX_ROOMS_PER_CONNECTION until they end. */
  joining: number;
}

/** What the limits read of a connection: its identity, its rooms, and its limit state. */
export interface LimitedConnection {
  identity: Identity;
  rooms: ReadonlyMap<string, unknown>;
  limits: ConnectionLimits | undefined;
}

export interface LimitsDeps {
  config: Readonly<Config>;
  /** The engine's connection registry (shared by every instance on Redis): connections per user. */
  connections: ConnectionRegistry;
  metrics: Metrics;
  logger: Logger;
  refusals: RefusalLog;
}

/**
 * Every limit of the server, and the only place handlers ask "may this happen?". Each limit is
 * held where it protects what it bounds:
 * - per instance (this process's memory, no round trip): client addresses (Engine.IO sessions,
 *   handshakes), a connection's own budgets (events, sends, rooms), slow consumers;
 * - across instances (the engine's shared stores): connections per user, and a user's and a tenant's
 *   `room:send` budgets, which the room stream takes in the same step as the append.
 * A refusal is a CodedError (RATE_LIMITED with retryAfterMs, ROOM_LIMIT, CONNECTION_LIMIT,
 * PAYLOAD_TOO_LARGE) counted in `websocket_rate_limited_total{scope}`.
 */
export function createLimits(deps: LimitsDeps) {
  const { config, connections, metrics } = deps;
  const limits = config.limits;
  const addresses = new LocalBuckets();
  const sessions = new SessionGuard(limits.sessions, config.handshakeTimeoutMs, addresses, config.trustProxy, metrics, deps.refusals);
  const overload = new OverloadGuard(limits.overload.lagMs, limits.overload.retryAfterMs);

  function refuse(scope: string, code: 'RATE_LIMITED' | 'ROOM_LIMIT' | 'CONNECTION_LIMIT', message: string, retryAfterMs?: number): never {
    metrics.rateLimited.inc({ scope });
    throw new CodedError(code, message, retryAfterMs);
  }

  const stateOf = (conn: LimitedConnection): ConnectionLimits =>
    (conn.limits ??= { events: undefined, sends: undefined, publish: undefined, joining: 0 });

  return {
    sessions,

    overload,

    /**
     * A Socket.IO CONNECT from `address`: refused at once while the instance is overloaded
     * (OVERLOAD_LAG_MS), then per address (RATE_LIMIT_CONNECTIONS_PER_IP_*).
     */
    admitConnect(address: string): void {
      const wait = overload.refusal();
      if (wait !== undefined) {
        metrics.rateLimited.inc({ scope: 'overloaded' });
        throw new CodedError('OVERLOADED', 'The server is overloaded: retry later', wait);
      }
      const d = addresses.take(`ip:${addressKey(address)}`, limits.ip.rate, limits.ip.burst);
      if (!d.allowed) refuse('ip', 'RATE_LIMITED', 'Too many connection attempts from this address', d.retryAfterMs);
    },

    /**
     * Registers one of the user's connections, refused past MAX_CONNECTIONS_PER_USER (across instances)
     * with CONNECTION_LIMIT, and refused with TOKEN_REVOKED when the identity's token is revoked: the
     * registry checks it in the same step (at the cap, the cap's refusal is the one given).
     * Every connection is registered, also without a cap: the registry is who is connected where.
     * `first`: the user had no other live connection.
     */
    async acquireConnection(identity: Identity, connectionId: string, connectedAt: number): Promise<Acquired> {
      const max = limits.maxConnectionsPerUser;
      const record = { tenantId: identity.tenantId, userId: identity.userId, connectionId, serverId: config.serverId, connectedAt };
      const acquired = await connections.acquire(record, Math.max(0, max), Date.now(), { issuedAt: identity.issuedAt });
      if (acquired.revoked) throw new CodedError('TOKEN_REVOKED');
      if (!acquired.held) refuse('connections_per_user', 'CONNECTION_LIMIT', `At most ${max} connections per user`);
      return acquired;
    },

    /** Gives the connection's place back. `last`: the user has no live connection left. */
    releaseConnection(identity: Identity, connectionId: string): Promise<Released> {
      return connections.release({ tenantId: identity.tenantId, userId: identity.userId, connectionId }, Date.now());
    },

    /** Takes an event's cost from the connection's event budget (RATE_LIMIT_EVENTS_*). */
    takeEvent(conn: LimitedConnection, event: ClientEventName | undefined, payload: unknown): void {
      const cost = eventCost(event, payload);
      if (cost === 0 || limits.events.rate <= 0) return;
      const state = stateOf(conn);
      const d = (state.events ??= new TokenBucket()).take(limits.events.rate, limits.events.burst, Date.now(), cost);
      if (!d.allowed) refuse('events', 'RATE_LIMITED', `Too many requests (${event ?? 'unknown event'})`, d.retryAfterMs);
    },

    /**
     * Reserves a place for a room being joined (MAX_ROOMS_PER_CONNECTION): rooms held and joins in
     * flight together stay within the cap whatever the interleaving. The returned function gives the
     * place back; call it when the join ends, whether the room was added or not.
     */
    reserveRoom(conn: LimitedConnection): () => void {
      const max = limits.maxRoomsPerConnection;
      const state = stateOf(conn);
      if (max > 0 && conn.rooms.size + state.joining >= max) refuse('rooms_per_connection', 'ROOM_LIMIT', `At most ${max} rooms per connection`);
      state.joining++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        state.joining--;
      };
    },

    /**
     * Takes a `room:send` from the connection's own bucket and returns the user's and tenant's buckets
     * for the room stream to take with the append (see `sendRefused` for its refusal).
     */
    beforeSend(conn: LimitedConnection): PublishLimits | undefined {
      const state = stateOf(conn);
      const d = (state.sends ??= new TokenBucket()).take(limits.connection.rate, limits.connection.burst, Date.now());
      if (!d.allowed) refuse('connection', 'RATE_LIMITED', 'Rate limit exceeded (connection)', d.retryAfterMs);
      if (state.publish === undefined) {
        const { user, tenant } = limits;
        state.publish =
          user.rate > 0 || tenant.rate > 0
            ? {
                group: conn.identity.tenantId,
                buckets: [
                  { key: `u:${conn.identity.userId}`, rate: user.rate, burst: user.burst },
                  { key: 't', rate: tenant.rate, burst: tenant.burst },
                ],
              }
            : null;
      }
      return state.publish ?? undefined;
    },

    /** A publish the room stream refused for the user's or the tenant's bucket, as the client sees it. */
    sendRefused(err: unknown): void {
      if (!(err instanceof RateRefusedError)) return;
      const scope = err.decision.refusedBy === 1 ? 'tenant' : 'user';
      refuse(scope, 'RATE_LIMITED', `Rate limit exceeded (${scope})`, err.decision.retryAfterMs);
    },

    /** Disconnects connections whose unread output exceeds WRITE_BUFFER_LIMIT; returns a stop function. */
    watchOutput(connections: () => Iterable<WatchedConnection>): () => void {
      return watchSlowConsumers(connections, { limitBytes: config.writeBufferLimit, logger: deps.logger, metrics });
    },

    /** Starts the sweeps of per-address state and the overload measure; returns a stop function. */
    start(): () => void {
      const timer = setInterval(() => {
        addresses.sweep();
        sessions.sweep();
      }, 10_000);
      timer.unref();
      const stopOverload = overload.start();
      return () => {
        clearInterval(timer);
        stopOverload();
      };
    },
  };
}

export type Limits = ReturnType<typeof createLimits>;
