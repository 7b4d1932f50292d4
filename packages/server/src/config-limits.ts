import type { Env } from './config-schema.js';

export interface LimitsConfig {
  connection: { rate: number; burst: number };
  user: { rate: number; burst: number };
  tenant: { rate: number; burst: number };
  ip: { rate: number; burst: number };
  maxConnectionsPerUser: number;
  maxRoomsPerConnection: number;
  /** Every client event but `room:send`, per connection, in cost units (see limits/events.ts). */
  events: { rate: number; burst: number };
  /** Engine.IO sessions (before any authentication), per client address and pending in total. */
  sessions: { rate: number; burst: number; pendingPerAddress: number; pendingTotal: number };
  /** Presence updates of one user in one room are announced at most once per this many ms (0: each one). */
  presenceUpdateIntervalMs: number;
  /** New handshakes are refused (OVERLOADED) while the event loop lags more than lagMs (0: never). */
  overload: { lagMs: number; retryAfterMs: number };
}

/** Every limit (limits/ applies them). */
export function limitsConfig(r: Env): LimitsConfig {
  return {
    connection: { rate: r.RATE_LIMIT_MESSAGES_PER_SECOND, burst: r.RATE_LIMIT_MESSAGES_BURST },
    user: { rate: r.RATE_LIMIT_USER_MESSAGES_PER_SECOND, burst: r.RATE_LIMIT_USER_MESSAGES_BURST },
    tenant: { rate: r.RATE_LIMIT_TENANT_MESSAGES_PER_SECOND, burst: r.RATE_LIMIT_TENANT_MESSAGES_BURST },
    ip: { rate: r.RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND, burst: r.RATE_LIMIT_CONNECTIONS_PER_IP_BURST },
    maxConnectionsPerUser: r.MAX_CONNECTIONS_PER_USER,
    maxRoomsPerConnection: r.MAX_ROOMS_PER_CONNECTION,
    events: { rate: r.RATE_LIMIT_EVENTS_PER_SECOND, burst: r.RATE_LIMIT_EVENTS_BURST },
    sessions: {
      rate: r.RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND,
      burst: r.RATE_LIMIT_SESSIONS_PER_IP_BURST,
      pendingPerAddress: r.MAX_PENDING_SESSIONS_PER_IP,
      pendingTotal: r.MAX_PENDING_SESSIONS,
    },
    presenceUpdateIntervalMs: r.PRESENCE_UPDATE_INTERVAL,
    overload: { lagMs: r.OVERLOAD_LAG_MS, retryAfterMs: r.OVERLOAD_RETRY_AFTER_MS },
  };
}
