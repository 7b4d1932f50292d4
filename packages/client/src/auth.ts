import { ackError, WebSocketClientError } from './errors.js';
import type { Link } from './link.js';
import type { TimerHandle, Timers } from './timers.js';
import { jwtExpiresAt, refreshDelay } from './token.js';
import type { ClientSocket, TokenRefreshed } from './types.js';

export interface TokenEvents {
  refreshed(data: TokenRefreshed): void;
  error(error: WebSocketClientError): void;
}

/** The token: handshake credentials, renewal through `getToken`, refresh before expiry. */
export class TokenKeeper {
  /** The server said the token expired: renew before the next connection attempt. */
  private stale = false;
  private refreshTimer: TimerHandle | undefined;

  constructor(
    private token: string | undefined,
    private readonly getToken: (() => string | Promise<string>) | undefined,
    private readonly link: Link,
    private readonly timers: Timers,
    private readonly marginMs: number,
    private readonly events: TokenEvents,
  ) {}

  get current(): string | undefined {
    return this.token;
  }

  get renewable(): boolean {
    return this.getToken !== undefined;
  }

  markStale(): void {
    this.stale = true;
  }

  get isStale(): boolean {
    return this.stale;
  }

  /** True when a new token must be fetched before connecting. */
  needsRenewal(): boolean {
    if (!this.getToken) return false;
    if (this.token === undefined || this.stale) return true;
    const exp = jwtExpiresAt(this.token);
    return exp !== undefined && exp <= this.timers.now();
  }

  /** Calls `getToken()`; rejects with `TOKEN_ERROR` when it fails or returns no token. */
  async renew(): Promise<string> {
    const getToken = this.getToken;
    if (!getToken) throw new WebSocketClientError('AUTH_EXPIRED', 'No getToken option to renew the token');
    let token: unknown;
    try {
      token = await getToken();
    } catch (err) {
      throw new WebSocketClientError('TOKEN_ERROR', err instanceof Error ? err.message : String(err));
    }
    if (typeof token !== 'string' || token === '') throw new WebSocketClientError('TOKEN_ERROR', 'getToken() must return a non-empty string');
    this.token = token;
    this.stale = false;
    return token;
  }

  /** Plans the refresh of the token of the connection on `socket`, expiring at `expiresAt` (or the token's `exp`). */
  schedule(socket: ClientSocket, expiresAt: number | undefined): void {
    this.cancel();
    const at = expiresAt ?? (this.token !== undefined ? jwtExpiresAt(this.token) : undefined);
    // Already expired: the server ends the connection and the reconnect gets a new token.
    if (at === undefined || !this.getToken || at <= this.timers.now()) return;
    const delay = refreshDelay(at, this.timers.now(), this.marginMs);
    this.refreshTimer = this.timers.setTimeout(() => void this.refresh(socket, at), delay);
  }

  cancel(): void {
    if (this.refreshTimer !== undefined) this.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  /** Gets a new token and hands it to the server on the open connection (`auth:refresh`). */
  private async refresh(socket: ClientSocket, oldExpiresAt: number): Promise<void> {
    this.refreshTimer = undefined;
    let token: string;
    try {
      token = await this.renew();
    } catch (err) {
      this.events.error(err as WebSocketClientError);
      // Try again halfway to the expiry; after it, the server's AUTH_EXPIRED leads to a reconnect with a new token.
      if (socket === this.link.currentSocket() && oldExpiresAt > this.timers.now()) {
        const retryIn = Math.max(1000, (oldExpiresAt - this.timers.now()) / 2);
        this.refreshTimer = this.timers.setTimeout(() => void this.refresh(socket, oldExpiresAt), retryIn);
      }
      return;
    }
    // Not connected any more: the new token goes with the next handshake.
    if (socket !== this.link.currentSocket() || !socket.connected) return;
    let ack;
    try {
      ack = await this.link.request(socket, (s) => s.emitWithAck('auth:refresh', { token }));
    } catch {
      return;
    }
    if (!ack.success) {
      this.events.error(ackError(ack));
      return;
    }
    const expiresAt = ack.expiresAt ?? jwtExpiresAt(token);
    // A token that does not live longer than the old one is not refreshed again on this connection.
    if (socket === this.link.currentSocket() && expiresAt !== undefined && expiresAt > oldExpiresAt) this.schedule(socket, expiresAt);
    this.events.refreshed(expiresAt !== undefined ? { expiresAt } : {});
  }
}
