import type { Engine, Retention } from '../types.js';
import { MemoryPresenceStore } from './presence.js';
import { MemoryConnectionRegistry } from './connections.js';
import { MemoryInstanceRegistry } from './instances.js';
import { MemoryRateLimiter } from './rate-limiter.js';
import { MemoryRevocationStore } from './revocations.js';
import { MemoryRoomStream } from './stream.js';
import { MemoryWebhookStore } from './webhooks.js';

export interface MemoryEngineOptions {
  retention: Retention;
  presenceTimeoutMs: number;
  /** A connection record not refreshed for this long stops counting (default 120000 ms). */
  connectionStaleMs?: number;
  /** How often expired history, buckets and duplicate-window entries are dropped. */
  sweepIntervalMs?: number;
}

/** The embedded engine: everything in this process, for one instance. */
export function createMemoryEngine(opts: MemoryEngineOptions): Engine & { readonly stream: MemoryRoomStream } {
  const rateLimiter = new MemoryRateLimiter();
  const stream = new MemoryRoomStream(opts.retention, rateLimiter);
  const revocations = new MemoryRevocationStore();
  const timer = setInterval(() => {
    stream.sweep();
    rateLimiter.sweep();
    revocations.sweep();
  }, opts.sweepIntervalMs ?? 30_000);
  timer.unref();
  return {
    name: 'memory',
    stream,
    presence: new MemoryPresenceStore(opts.presenceTimeoutMs),
    rateLimiter,
    connections: new MemoryConnectionRegistry(opts.connectionStaleMs, revocations),
    instances: new MemoryInstanceRegistry(),
    revocations,
    webhooks: new MemoryWebhookStore(),
    health: [],
    async close() {
      clearInterval(timer);
    },
  };
}
