import type { Engine, Retention } from '../types.js';
import { MemoryPresenceStore } from './presence.js';
import { MemoryCounterStore, MemoryRateLimiter } from './rate-limiter.js';
import { MemoryRoomStream } from './stream.js';

export interface MemoryEngineOptions {
  retention: Retention;
  presenceTimeoutMs: number;
  /** How often expired history, buckets and duplicate-window entries are dropped. */
  sweepIntervalMs?: number;
}

/** The embedded engine: everything in this process, for one instance. */
export function createMemoryEngine(opts: MemoryEngineOptions): Engine & { readonly stream: MemoryRoomStream } {
  const rateLimiter = new MemoryRateLimiter();
  const stream = new MemoryRoomStream(opts.retention, rateLimiter);
  const timer = setInterval(() => {
    stream.sweep();
    rateLimiter.sweep();
  }, opts.sweepIntervalMs ?? 30_000);
  timer.unref();
  return {
    name: 'memory',
    stream,
    presence: new MemoryPresenceStore(opts.presenceTimeoutMs),
    rateLimiter,
    counters: new MemoryCounterStore(),
    health: [],
    async close() {
      clearInterval(timer);
    },
  };
}
