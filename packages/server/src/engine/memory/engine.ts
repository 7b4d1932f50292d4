import type { RoomMessage } from '@intelgraph/websocket-protocol';
import type { AppendOptions, AppendResult, Broker, Engine, NewMessage, Retention, RoomKey } from '../types.js';
import { MemoryHistoryStore } from './history.js';
import { MemoryPresenceStore } from './presence.js';
import { MemoryCounterStore, MemoryRateLimiter } from './rate-limiter.js';

type Handler = (key: RoomKey, msg: RoomMessage, except: string | undefined) => void;

/** Delivers in-process, right after the append, so delivery order is id order. */
export class MemoryBroker implements Broker {
  private handler: Handler = () => {};

  constructor(private readonly history: MemoryHistoryStore) {}

  async publish(key: RoomKey, msg: NewMessage, opts: AppendOptions & { exceptConnectionId?: string }): Promise<AppendResult> {
    const result = this.history.appendSync(key, msg, opts);
    if (!result.duplicate) this.handler(key, result.message, opts.exceptConnectionId);
    return result;
  }

  onMessage(handler: Handler): void {
    this.handler = handler;
  }

  async subscribe(): Promise<void> {}
  async unsubscribe(): Promise<void> {}
}

export interface MemoryEngineOptions {
  retention: Retention;
  presenceTimeoutMs: number;
  /** How often expired history, buckets and duplicate-window entries are dropped. */
  sweepIntervalMs?: number;
}

export function createMemoryEngine(opts: MemoryEngineOptions): Engine {
  const history = new MemoryHistoryStore(opts.retention);
  const rateLimiter = new MemoryRateLimiter();
  const timer = setInterval(() => {
    history.sweep();
    rateLimiter.sweep();
  }, opts.sweepIntervalMs ?? 30_000);
  timer.unref();
  return {
    name: 'memory',
    history,
    presence: new MemoryPresenceStore(opts.presenceTimeoutMs),
    rateLimiter,
    counters: new MemoryCounterStore(),
    broker: new MemoryBroker(history),
    health: [],
    async close() {
      clearInterval(timer);
    },
  };
}
