import type { IncomingMessage } from 'node:http';
import { TENANT_ID_PATTERN } from '@intelgraph/websocket-protocol';
import type { ProxyConnection } from '../auth/proxy.js';
import { CodedError, toCoded, UnavailableError } from '../errors.js';
import { clientAddress } from '../limits/index.js';
import { NO_ROOMS, type ConnState, type IoSocket, type RealtimeDeps } from './context.js';

/** The token, from (in order) the handshake's auth, an Authorization header, or the `token` query parameter. */
export function extractToken(auth: Record<string, unknown> | undefined, headers: IncomingMessage['headers'], query: Record<string, unknown>): unknown {
  if (auth && auth.token !== undefined) return auth.token;
  const header = headers.authorization;
  if (typeof header === 'string' && /^Bearer\s+/i.test(header)) return header.replace(/^Bearer\s+/i, '').trim();
  return query.token;
}

/** The connection as the authorization backend sees it at the handshake. */
function handshakeConnection(id: string, serverId: string, address: string, headers: IncomingMessage['headers']): ProxyConnection {
  const origin = headers.origin;
  const userAgent = headers['user-agent'];
  return {
    id,
    serverId,
    address,
    ...(typeof origin === 'string' && { origin: origin.slice(0, 512) }),
    ...(typeof userAgent === 'string' && { userAgent: userAgent.slice(0, 512) }),
  };
}

/** Socket.IO middleware: admission, authentication and per-user caps for each new connection. */
export function handshakeMiddleware(deps: RealtimeDeps) {
  const { config, metrics, logger, limits } = deps;
  return async (socket: IoSocket, next: (err?: Error) => void): Promise<void> => {
    const hs = socket.handshake;
    const address = clientAddress(hs.headers, hs.address, config.trustProxy);
    let who: { tenantId?: string; userId?: string } = {};
    try {
      if (!deps.lifecycle.accepting) throw new CodedError('SHUTTING_DOWN');
      limits.admitConnect(address);
      const auth = typeof hs.auth === 'object' && hs.auth !== null ? (hs.auth as Record<string, unknown>) : undefined;
      const token = extractToken(auth, hs.headers, hs.query as Record<string, unknown>);
      if (token === undefined || token === null || token === '') throw new CodedError('AUTH_REQUIRED');
      if (typeof token !== 'string') throw new CodedError('AUTH_INVALID', 'The token must be a string');
      const identity = await deps.verify(token);
      who = { tenantId: identity.tenantId, userId: identity.userId };
      const requested = auth?.tenantId;
      if (requested !== undefined && requested !== null) {
        if (typeof requested !== 'string' || !TENANT_ID_PATTERN.test(requested)) throw new CodedError('TENANT_MISMATCH', 'Invalid tenantId');
        if (requested !== identity.tenantId) throw new CodedError('TENANT_MISMATCH');
      }
      if (identity.expiresAt !== undefined && identity.expiresAt <= Date.now()) throw new CodedError('AUTH_EXPIRED');
      if (deps.backend) await deps.backend.connect(identity, handshakeConnection(socket.id, config.serverId, address, hs.headers));
      // The registration checks the token against the user's revocation in the same step (on one Redis, in
      // the same script as the other handshakes of this event-loop turn): CONNECTION_LIMIT or TOKEN_REVOKED.
      // A revocation recorded after that check is announced to the connection once it is registered.
      const acquired = await limits.acquireConnection(identity, socket.id, hs.issued);
      if (!deps.lifecycle.accepting) {
        await limits.releaseConnection(identity, socket.id).catch(() => {});
        throw new CodedError('SHUTTING_DOWN');
      }
      const state: ConnState = {
        identity,
        status: 'online',
        rooms: NO_ROOMS,
        joining: undefined,
        tenantLabel: metrics.tenant(identity.tenantId),
        closed: false,
        limits: undefined,
        ...(acquired.first && { first: true as const }),
      };
      socket.data = state;
      deps.accepting?.(socket);
      next();
    } catch (err) {
      const coded = toCoded(err);
      if (coded instanceof UnavailableError) logger.warn({ socketId: socket.id }, coded.message);
      else if (coded.code === 'INTERNAL') logger.error({ err, socketId: socket.id }, 'handshake failed');
      else deps.refusals.refused(address, { code: coded.code, ...who }, 'connection refused');
      metrics.connectionsRejected.inc({ code: coded.code });
      metrics.errors.inc({ type: coded.code });
      const error = new Error(coded.code) as Error & { data?: unknown };
      error.data = coded.toData();
      next(error);
    }
  };
}
