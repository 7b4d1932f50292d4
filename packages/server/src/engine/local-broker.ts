import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { appendOptionsTakingLimits } from './limits.js';
import type { AppendResult, Broker, HistoryStore, NewMessage, PublishOptions, RateLimiter, RoomKey } from './types.js';

type Handler = (key: RoomKey, msg: RoomMessage, except: string | undefined) => void;

/**
 * Delivers to this instance's members only, after appending through the
 * history store: the embedded engine, and a standalone instance
 * (CLUSTERING_ENABLED=false) that keeps its history in Redis. Appends
 * complete in call order (in-process, or on one Redis connection), so
 * delivery order is id order.
 */
export class LocalBroker implements Broker {
  private handler: Handler = () => {};

  constructor(
    private readonly history: HistoryStore,
    private readonly limiter: RateLimiter,
  ) {}

  async publish(key: RoomKey, msg: NewMessage, opts: PublishOptions): Promise<AppendResult> {
    const result = await this.history.append(key, msg, await appendOptionsTakingLimits(this.history, this.limiter, opts));
    if (!result.duplicate) this.handler(key, result.message, opts.exceptConnectionId);
    return result;
  }

  onMessage(handler: Handler): void {
    this.handler = handler;
  }

  async subscribe(): Promise<void> {}
  async unsubscribe(): Promise<void> {}
}
