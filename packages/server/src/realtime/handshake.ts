import type { IncomingMessage } from 'node:http';
import { TENANT_ID_PATTERN } from '@intelgraph/websocket-protocol';
import { CodedError, toCoded, UnavailableError } from '../errors.js';
import { NO_ROOMS, type ConnState, type IoSocket, type RealtimeDeps } from './context.js';

/** The client's address: the peer, or the first X-Forwarded-For hop when TRUST_PROXY is on. */
export function clientAddress(headers: IncomingMessage['headers'], peer: string | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = headers['x-forwarded-for'];
    const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return peer ?? 'unknown';
}

/** The token, from (in order) the handshake's auth, an Authorization header, or the `token` query parameter. */
export function extractToken(auth: Record<string, unknown> | undefined, headers: IncomingMessage['headers'], query: Record<string, unknown>): unknown {
  if (auth && auth.token !== undefined) return auth.token;
  const header = headers.authorization;
  if (typeof header === 'string' && /^Bearer\s+/i.test(header)) return header.replace(/^Bearer\s+/i, '').trim();
  return query.token;
}

export const connectionsKey = (tenantId: string, userId: string) => `conn:${tenantId}:${userId}`;

/** What a connection's handshake keeps of its auth, query and headers once it is admitted. */
const EMPTY: Record<string, never> = Object.freeze({});

/** Socket.IO middleware: admission, authentication and per-user caps for each new connection. */
export function handshakeMiddleware(deps: RealtimeDeps) {
  const { config, metrics, logger } = deps;
  return async (socket: IoSocket, next: (err?: Error) => void): Promise<void> => {
    try {
      if (!deps.lifecycle.accepting) throw new CodedError('SHUTTING_DOWN');
      const hs = socket.handshake;
      const ip = clientAddress(hs.headers, hs.address, config.trustProxy);
      const ipLimit = deps.localLimiter.consumeSync(`ip:${ip}`, config.limits.ip.rate, config.limits.ip.burst);
      if (!ipLimit.allowed) {
        metrics.rateLimited.inc({ scope: 'ip' });
        throw new CodedError('RATE_LIMITED', 'Too many connection attempts from this address', ipLimit.retryAfterMs);
      }
      const auth = typeof hs.auth === 'object' && hs.auth !== null ? (hs.auth as Record<string, unknown>) : undefined;
      const token = extractToken(auth, hs.headers, hs.query as Record<string, unknown>);
      if (token === undefined || token === null || token === '') throw new CodedError('AUTH_REQUIRED');
      if (typeof token !== 'string') throw new CodedError('AUTH_INVALID', 'The token must be a string');
      const identity = await deps.verify(token);
      const requested = auth?.tenantId;
      if (requested !== undefined && requested !== null) {
        if (typeof requested !== 'string' || !TENANT_ID_PATTERN.test(requested)) throw new CodedError('TENANT_MISMATCH', 'Invalid tenantId');
        if (requested !== identity.tenantId) throw new CodedError('TENANT_MISMATCH');
      }
      if (identity.expiresAt !== undefined && identity.expiresAt <= Date.now()) throw new CodedError('AUTH_EXPIRED');
      const max = config.limits.maxConnectionsPerUser;
      if (max > 0 && !(await deps.engine.counters.acquire(connectionsKey(identity.tenantId, identity.userId), socket.id, max, Date.now()))) {
        metrics.rateLimited.inc({ scope: 'connections_per_user' });
        throw new CodedError('CONNECTION_LIMIT', `At most ${max} connections per user`);
      }
      if (!deps.lifecycle.accepting) {
        await deps.engine.counters.release(connectionsKey(identity.tenantId, identity.userId), socket.id).catch(() => {});
        throw new CodedError('SHUTTING_DOWN');
      }
      const state: ConnState = {
        identity,
        status: 'online',
        rooms: NO_ROOMS,
        tenantLabel: metrics.tenant(identity.tenantId),
        closed: false,
        sending: undefined,
      };
      socket.data = state;
      // Nothing of the handshake is needed after this point: keep no token around (auth, query or
      // Authorization header), nor headers such as a browser's cookies for the connection's lifetime.
      // One shared, frozen empty object stands for all three, and the request's URL and the
      // handshake's time (a formatted date) go too: an idle connection keeps what it uses.
      hs.auth = EMPTY;
      hs.query = EMPTY;
      hs.headers = EMPTY;
      hs.url = '';
      hs.time = '';
      next();
    } catch (err) {
      const coded = toCoded(err);
      if (coded instanceof UnavailableError) logger.warn({ socketId: socket.id }, coded.message);
      else if (coded.code === 'INTERNAL') logger.error({ err, socketId: socket.id }, 'handshake failed');
      metrics.connectionsRejected.inc({ code: coded.code });
      metrics.errors.inc({ type: coded.code });
      const error = new Error(coded.code) as Error & { data?: unknown };
      error.data = coded.toData();
      next(error);
    }
  };
}
