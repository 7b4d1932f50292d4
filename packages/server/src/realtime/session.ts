import { CodedError } from '../errors.js';
import type { IoSocket, RealtimeDeps } from './context.js';
import { parse, schemas } from './validation.js';

/** setTimeout's longest delay; longer expiries are re-armed in steps. */
const MAX_TIMER = 2_147_483_647;

/** Token expiry while connected, and `auth:refresh`. */
export function createSession(deps: RealtimeDeps) {
  // Timers take the socket as an argument: no closure per connection.
  function expire(socket: IoSocket): void {
    if (socket.data.closed) return;
    deps.metrics.errors.inc({ type: 'AUTH_EXPIRED' });
    socket.emit('system:error', { code: 'AUTH_EXPIRED', message: 'The token has expired: reconnect with a new token' });
    socket.disconnect(true);
  }

  function armExpiry(socket: IoSocket): void {
    const s = socket.data;
    if (s.expiryTimer) clearTimeout(s.expiryTimer);
    s.expiryTimer = undefined;
    const at = s.identity.expiresAt;
    if (at === undefined || s.closed) return;
    const delay = at - Date.now();
    if (delay > MAX_TIMER) {
      s.expiryTimer = setTimeout(armExpiry, MAX_TIMER, socket);
      return;
    }
    s.expiryTimer = setTimeout(expire, Math.max(0, delay), socket);
  }

  async function refresh(socket: IoSocket, raw: unknown) {
    const req = parse(schemas.refresh, raw);
    const next = await deps.verify(req.token);
    const cur = socket.data.identity;
    if (next.userId !== cur.userId || next.tenantId !== cur.tenantId) {
      throw new CodedError('AUTH_INVALID', 'A refreshed token must be for the same user and tenant');
    }
    if (cur.expiresAt !== undefined && (next.expiresAt === undefined ? deps.config.jwt.requireExp : next.expiresAt < cur.expiresAt)) {
      throw new CodedError('AUTH_INVALID', 'A refreshed token must not expire before the current one');
    }
    socket.data.identity = next;
    armExpiry(socket);
    return next.expiresAt !== undefined ? { expiresAt: next.expiresAt } : {};
  }

  return { armExpiry, refresh };
}
