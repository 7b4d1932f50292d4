import { isRetryable, type RoomMessage } from '@intelgraph/websocket-protocol';
import { backoff, SEND_RETRY } from './backoff.js';
import { ackError, WebSocketClientError } from './errors.js';
import { newClientMessageId } from './ids.js';
import type { Link } from './link.js';
import { Outbox, type OutgoingMessage } from './queue.js';
import { RecentSet } from './recovery.js';
import type { TimerHandle, Timers } from './timers.js';

/**
 * Sends room messages: one FIFO queue drained one message at a time while the connection is live,
 * each message with a `clientMessageId` that stays the same across resends.
 */
export class Sender {
  private readonly outbox: Outbox;
  /** Client message ids of recent sends, to recognise this client's own messages in a recovery. */
  private readonly ownIds = new RecentSet(10_000);
  private pumping = false;
  private paused: { timer: TimerHandle; wake(): void } | undefined;

  constructor(
    private readonly link: Link,
    private readonly timers: Timers,
    maxSize: number,
  ) {
    this.outbox = new Outbox(maxSize);
  }

  /** Messages awaiting acknowledgement. */
  get size(): number {
    return this.outbox.size;
  }

  /** True for a message this client sent. */
  isOwn(message: RoomMessage): boolean {
    return message.clientMessageId !== undefined && this.ownIds.has(message.clientMessageId);
  }

  /** Queues a message; resolves with its id once acknowledged. */
  enqueue(room: string, payload: unknown, persistent: boolean, clientMessageId = newClientMessageId()): Promise<string> {
    if (this.outbox.full) {
      return Promise.reject(new WebSocketClientError('QUEUE_FULL', `${this.outbox.maxSize} messages are already waiting`, { room }));
    }
    return new Promise<string>((resolve, reject) => {
      const message: OutgoingMessage = { clientMessageId, room, payload, persistent, attempts: 0, failures: 0, resolve, reject };
      this.ownIds.add(message.clientMessageId);
      this.outbox.push(message);
      this.flush();
    });
  }

  /**
   * Takes a message out of the queue without settling its promise (the caller gave up on it): it is not
   * sent, or not sent again. False when it was already answered.
   */
  withdraw(clientMessageId: string): boolean {
    const message = this.outbox.find(clientMessageId);
    return message !== undefined && this.outbox.remove(message);
  }

  /** Sends what is queued, if the connection is live. */
  flush(): void {
    void this.pump();
  }

  /** Rejects every queued message. */
  rejectAll(error: Error): void {
    for (const message of this.outbox.drain()) message.reject(error);
    this.paused?.wake();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const socket = this.link.liveSocket();
        const message = this.outbox.peek();
        if (!message || !socket) return;
        message.attempts++;
        const request = { room: message.room, payload: message.payload, persistent: message.persistent, clientMessageId: message.clientMessageId };
        let ack;
        try {
          ack = await this.link.request(socket, (s) => s.emitWithAck('room:send', request));
        } catch (err) {
          // No answer in time: the outcome is unknown, so send again with the same clientMessageId.
          if ((err as WebSocketClientError).code === 'TIMEOUT' && this.link.liveSocket() === socket) continue;
          return; // Connection lost: sent again after the reconnect.
        }
        if (ack.success) {
          if (this.outbox.remove(message)) message.resolve(ack.messageId);
        } else if (isRetryable(ack.error) && typeof ack.retryAfterMs === 'number') {
          // The server said when (RATE_LIMITED): wait that long, as often as it asks.
          await this.pause(ack.retryAfterMs);
        } else if (isRetryable(ack.error) && message.failures < SEND_RETRY.retries) {
          // A server-side failure such as Redis failing over (INTERNAL): retry with backoff. The same
          // clientMessageId makes a retry of a send that was stored after all a duplicate, not a second message.
          await this.pause(backoff(message.failures++, SEND_RETRY.minDelayMs, SEND_RETRY.maxDelayMs, SEND_RETRY.factor));
        } else if (this.outbox.remove(message)) {
          message.reject(ackError(ack, message.room));
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        if (this.paused?.wake === wake) {
          this.timers.clearTimeout(this.paused.timer);
          this.paused = undefined;
        }
        resolve();
      };
      this.paused = { timer: this.timers.setTimeout(wake, Math.max(10, ms)), wake };
    });
  }
}
