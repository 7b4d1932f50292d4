import { LocalBroker } from '../local-broker.js';
import type { Engine, Retention } from '../types.js';
import { MemoryHistoryStore } from './history.js';
import { MemoryPresenceStore } from './presence.js';
import { MemoryCounterStore, MemoryRateLimiter } from './rate-limiter.js';

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
    broker: new LocalBroker(history, rateLimiter),
    health: [],
    async close() {
      clearInterval(timer);
    },
  };
}
