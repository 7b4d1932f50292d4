import { PRESENCE_STATUSES, type Metadata, type PresenceStatus, type StatusRequest } from '@intelgraph/websocket-protocol';
import { ackError, WebSocketClientError } from './errors.js';
import { startIdleDetection, type IdleDetector } from './idle.js';
import type { Link } from './link.js';
import type { TimerHandle, Timers } from './timers.js';
import type { ClientSocket } from './types.js';

/** This connection's presence: the chosen status (kept across reconnects), idle detection, heartbeats. */
export class PresenceKeeper {
  private chosen: StatusRequest = { status: 'online' };
  private idle = false;
  private detector: IdleDetector | undefined;
  private heartbeatTimer: TimerHandle | undefined;

  constructor(
    private readonly link: Link,
    private readonly timers: Timers,
    private readonly onError: (error: WebSocketClientError) => void,
  ) {}

  /** Changes on every `set`: tells whether the status changed while a resume was running. */
  get version(): StatusRequest {
    return this.chosen;
  }

  /** Remembers the status and applies it when the connection is live. */
  async set(status: PresenceStatus, metadata?: Metadata): Promise<void> {
    if (!(PRESENCE_STATUSES as readonly string[]).includes(status)) {
      throw new WebSocketClientError('INVALID_PAYLOAD', `status must be one of ${PRESENCE_STATUSES.join(', ')}`);
    }
    this.chosen = metadata !== undefined ? { status, metadata } : { status };
    await this.apply();
  }

  /** On a new connection (which starts `online`): applies the status unless it is the default. Rejects when the connection is lost. */
  async restore(socket: ClientSocket): Promise<void> {
    if (this.effective() === 'online' && this.chosen.metadata === undefined) return;
    const ack = await this.link.request(socket, (s) => s.emitWithAck('presence:status', this.request()));
    if (!ack.success) this.onError(ackError(ack));
  }

  /** Applies the status on the live connection; offline it is applied at the next connect. */
  async apply(): Promise<void> {
    const socket = this.link.liveSocket();
    if (!socket) return;
    let ack;
    try {
      ack = await this.link.request(socket, (s) => s.emitWithAck('presence:status', this.request()));
    } catch {
      return; // Applied again after the reconnect.
    }
    if (!ack.success) throw ackError(ack);
  }

  /** Sends `presence:heartbeat` every `intervalMs` on `socket` (none when `intervalMs` is 0). */
  startHeartbeat(socket: ClientSocket, intervalMs: number): void {
    this.stopHeartbeat();
    if (!(intervalMs > 0)) return;
    this.heartbeatTimer = this.timers.setInterval(() => {
      if (socket !== this.link.currentSocket() || !socket.connected) return;
      this.link.request(socket, (s) => s.emitWithAck('presence:heartbeat', {})).catch(() => {});
    }, intervalMs);
  }

  stopHeartbeat(): void {
    if (this.heartbeatTimer !== undefined) this.timers.clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** Browsers: `away` after `timeoutMs` without activity while the chosen status is `online`. */
  startIdleDetection(timeoutMs: number | undefined): void {
    if (this.detector || timeoutMs === undefined) return;
    this.detector = startIdleDetection(timeoutMs, this.timers, (idle) => {
      const before = this.effective();
      this.idle = idle;
      if (this.effective() !== before) void this.apply().catch((err: WebSocketClientError) => this.onError(err));
    });
  }

  stopIdleDetection(): void {
    this.detector?.stop();
    this.detector = undefined;
    this.idle = false;
  }

  /** The status user activity leaves: `away` while idle if the chosen one is `online`. */
  private effective(): PresenceStatus {
    return this.idle && this.chosen.status === 'online' ? 'away' : this.chosen.status;
  }

  private request(): StatusRequest {
    const req: StatusRequest = { status: this.effective() };
    if (this.chosen.metadata !== undefined) req.metadata = this.chosen.metadata;
    return req;
  }
}
