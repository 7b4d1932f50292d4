import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { appendOptionsTakingLimits, throwIfRefused } from './limits.js';
import { MemoryHistoryStore } from './memory/history.js';
import { MemoryRateLimiter } from './memory/rate-limiter.js';
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

  /** The embedded engine's path: buckets, append and delivery in one synchronous step. */
  private readonly appendNow: ((key: RoomKey, msg: NewMessage, opts: PublishOptions) => AppendResult) | undefined;

  constructor(
    private readonly history: HistoryStore,
    private readonly limiter: RateLimiter,
  ) {
    this.appendNow =
      history instanceof MemoryHistoryStore && limiter instanceof MemoryRateLimiter
        ? (key, msg, opts) => history.appendSync(key, msg, takeLimitsNow(limiter, opts))
        : undefined;
  }

  async publish(key: RoomKey, msg: NewMessage, opts: PublishOptions): Promise<AppendResult> {
    const result = this.appendNow
      ? this.appendNow(key, msg, opts)
      : await this.history.append(key, msg, await appendOptionsTakingLimits(this.history, this.limiter, opts));
    if (!result.duplicate) this.handler(key, result.message, opts.exceptConnectionId);
    return result;
  }

  onMessage(handler: Handler): void {
    this.handler = handler;
  }

  async subscribe(): Promise<void> {}
  async unsubscribe(): Promise<void> {}
}

/** `appendOptionsTakingLimits` for a limiter in this process (the store in memory takes no limits itself). */
function takeLimitsNow(limiter: MemoryRateLimiter, opts: PublishOptions): PublishOptions {
  if (opts.limits) throwIfRefused(limiter.consumeAllSync(opts.limits.group, opts.limits.buckets));
  return opts;
}
