import { CodedError } from '../errors.js';
import type { IoSocket, RealtimeDeps } from './context.js';
import { parse, schemas } from '../validation.js';

/** setTimeout's longest delay; longer waits are taken in steps. */
const MAX_TIMER = 2_147_483_647;

/**
 * Connections by the instant their token expires, behind one timer for all of
 * them (JWT expiries are whole seconds, so many connections share an instant):
 * a connection costs a set entry, not a timer of its own.
 */
class ExpiryQueue {
  private readonly due = new Map<number, Set<IoSocket>>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(private readonly onExpired: (socket: IoSocket) => void) {}

  add(at: number, socket: IoSocket): void {
    let set = this.due.get(at);
    if (!set) this.due.set(at, (set = new Set()));
    set.add(socket);
    if (at < this.timerAt) this.schedule(at);
  }

  delete(at: number, socket: IoSocket): void {
    const set = this.due.get(at);
    if (!set) return;
    set.delete(socket);
    if (set.size > 0) return;
    this.due.delete(at);
    if (this.due.size === 0) this.schedule(Infinity);
  }

  private schedule(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_TIMER, Math.max(0, at - Date.now())));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    const expired: IoSocket[] = [];
    let next = Infinity;
    for (const [at, set] of this.due) {
      if (at <= now) {
        for (const socket of set) expired.push(socket);
        this.due.delete(at);
      } else if (at < next) next = at;
    }
    this.schedule(next);
    for (const socket of expired) this.onExpired(socket);
  }
}

/** Token expiry while connected, and `auth:refresh`. */
export function createSession(deps: RealtimeDeps) {
  const queue = new ExpiryQueue((socket) => {
    if (socket.data.closed) return;
    deps.metrics.errors.inc({ type: 'AUTH_EXPIRED' });
    socket.emit('system:error', { code: 'AUTH_EXPIRED', message: 'The token has expired: reconnect with a new token' });
    socket.disconnect(true);
  });

  /** Disconnects the connection when its token expires. */
  function armExpiry(socket: IoSocket): void {
    const s = socket.data;
    const at = s.identity.expiresAt;
    if (at !== undefined && !s.closed) queue.add(at, socket);
  }

  /** Forgets the connection's expiry (on disconnect, or before its identity changes). */
  function disarm(socket: IoSocket): void {
    const at = socket.data.identity.expiresAt;
    if (at !== undefined) queue.delete(at, socket);
  }

  async function refresh(socket: IoSocket, raw: unknown) {
    const { token } = parse(schemas.refresh, raw);
    // A value that cannot be a token is an invalid token, as in the handshake (verification refuses one too long).
    if (typeof token !== 'string' || token === '') throw new CodedError('AUTH_INVALID', 'The token must be a non-empty string');
    const next = await deps.verify(token);
    const cur = socket.data.identity;
    if (next.userId !== cur.userId || next.tenantId !== cur.tenantId) {
      throw new CodedError('AUTH_INVALID', 'A refreshed token must be for the same user and tenant');
    }
    if (cur.expiresAt !== undefined && (next.expiresAt === undefined ? deps.config.jwt.requireExp : next.expiresAt < cur.expiresAt)) {
      throw new CodedError('AUTH_INVALID', 'A refreshed token must not expire before the current one');
    }
    disarm(socket);
    socket.data.identity = next;
    armExpiry(socket);
    return next.expiresAt !== undefined ? { expiresAt: next.expiresAt } : {};
  }

  return { armExpiry, disarm, refresh };
}
