import type { IncomingMessage } from 'node:http';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { RefusalLog } from '../refusal-log.js';
import { addressKey, clientAddress } from './address.js';
import type { LocalBuckets } from './local-buckets.js';

/** An Engine.IO connection as the guard sees it: its handshake request, and a way to hear it close. */
export interface EngineSession {
  request: IncomingMessage;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
  /** Engine.IO's close; `discard` drops the transport at once instead of waiting for a last poll. */
  close(discard?: boolean): unknown;
}

/** Why a new session is refused: the HTTP status (429 for one address, 503 for the instance) and what to tell. */
export interface SessionRefusal {
  status: 429 | 503;
  message: string;
  retryAfterMs?: number;
}

/** How much sooner than Socket.IO's connect timeout an unauthenticated session is dropped. */
const DROP_MARGIN_MS = 10;

/** How long a reservation made at a handshake may wait for its session before it is given back. */
const RESERVATION_MS = 30_000;

/**
 * Engine.IO sessions that have not yet authenticated (no Socket.IO CONNECT accepted yet): each holds
 * memory until HANDSHAKE_TIMEOUT, and opening one costs no token. So new sessions are limited per
 * client address (a token bucket) and their number pending authentication is capped per address and in
 * total. A place is reserved when the handshake is admitted, before the session exists, so the caps hold
 * whatever the interleaving of concurrent handshakes; it is given back when the session authenticates
 * or closes (or, if the session never came to be, after RESERVATION_MS). A session still
 * unauthenticated when the handshake timeout ends is dropped at once, just before Socket.IO would close
 * it: Socket.IO's close of a polling session that is never polled again waits 30 s for a last poll,
 * holding the session (and its place) all that time.
 */
export class SessionGuard {
  private readonly byAddress = new Map<string, number>();
  private total = 0;
  /** Handshakes admitted whose session is not open yet. */
  private readonly reserved = new Map<IncomingMessage, { key: string; at: number }>();
  /** Open sessions not yet authenticated. */
  private readonly open = new Map<EngineSession, { key: string; onClose: () => void; timer: NodeJS.Timeout }>();

  constructor(
    private readonly limits: Config['limits']['sessions'],
    private readonly handshakeTimeoutMs: number,
    private readonly buckets: LocalBuckets,
    private readonly trustProxy: boolean,
    private readonly metrics: Metrics,
    private readonly refusals: RefusalLog,
  ) {}

  /** A request opening a new Engine.IO session: undefined when admitted (a place is then reserved), else the refusal. */
  admit(req: IncomingMessage): SessionRefusal | undefined {
    const address = addressKey(clientAddress(req.headers, req.socket.remoteAddress, this.trustProxy));
    const { pendingTotal, pendingPerAddress, rate, burst } = this.limits;
    let scope: string | undefined;
    let refusal: SessionRefusal | undefined;
    if (pendingTotal > 0 && this.total >= pendingTotal) {
      scope = 'pending_sessions';
      refusal = { status: 503, message: 'Too many connections are being set up: retry later', retryAfterMs: 1000 };
    } else if (pendingPerAddress > 0 && (this.byAddress.get(address) ?? 0) >= pendingPerAddress) {
      scope = 'pending_sessions_per_ip';
      refusal = { status: 429, message: 'Too many unauthenticated sessions from this address', retryAfterMs: 1000 };
    } else {
      const d = this.buckets.take(`session:${address}`, rate, burst);
      if (!d.allowed) {
        scope = 'sessions_per_ip';
        refusal = { status: 429, message: 'Too many new sessions from this address', retryAfterMs: d.retryAfterMs };
      }
    }
    if (scope !== undefined) {
      this.metrics.rateLimited.inc({ scope });
      this.metrics.connectionsRejected.inc({ code: 'RATE_LIMITED' });
      this.refusals.refused(address, { scope }, 'session refused');
      return refusal;
    }
    this.add(address, 1);
    this.reserved.set(req, { key: address, at: Date.now() });
    return undefined;
  }

  /** A session opened (Engine.IO `connection`): its handshake's place is now the session's. */
  opened(session: EngineSession): void {
    const held = this.reserved.get(session.request);
    if (!held) return;
    this.reserved.delete(session.request);
    const onClose = () => this.settle(session);
    session.once('close', onClose);
    const timer = setTimeout(() => {
      if (this.open.has(session)) session.close(true);
    }, Math.max(0, this.handshakeTimeoutMs - DROP_MARGIN_MS));
    timer.unref();
    this.open.set(session, { key: held.key, onClose, timer });
  }

  /** The session authenticated (Socket.IO connection) or closed: its place is free. */
  settle(session: EngineSession): void {
    const held = this.open.get(session);
    if (!held) return;
    this.open.delete(session);
    clearTimeout(held.timer);
    session.off('close', held.onClose);
    this.add(held.key, -1);
  }

  /** Gives back the places of handshakes whose session never opened (a failed upgrade). */
  sweep(now = Date.now()): void {
    for (const [req, held] of this.reserved) {
      if (now - held.at < RESERVATION_MS) continue;
      this.reserved.delete(req);
      this.add(held.key, -1);
    }
  }

  /** Sessions pending authentication (open or reserved). */
  get pending(): number {
    return this.total;
  }

  private add(key: string, n: number): void {
    this.total += n;
    const now = (this.byAddress.get(key) ?? 0) + n;
    if (now > 0) this.byAddress.set(key, now);
    else this.byAddress.delete(key);
  }
}
