import { createMemoryEngine } from '../../src/engine/memory/engine.js';
import { MemoryPresenceStore } from '../../src/engine/memory/presence.js';
import { MemoryCounterStore, MemoryRateLimiter } from '../../src/engine/memory/rate-limiter.js';
import type { StreamInstance } from './stream.contract.js';
import { counterContract } from './counter.contract.js';
import { presenceContract } from './presence.contract.js';
import { rateLimiterContract } from './rate-limiter.contract.js';
import { streamContract } from './stream.contract.js';

streamContract('memory', {
  async create(retention) {
    const engine = createMemoryEngine({ retention, presenceTimeoutMs: 60_000 });
    const a: StreamInstance = { stream: engine.stream, limiter: engine.rateLimiter, received: [] };
    engine.stream.onMessage((key, msg, except) => a.received.push({ key, msg, except }));
    return { a, b: a, close: () => engine.close(), stateHeld: async () => engine.stream.roomsHeld() };
  },
});

presenceContract('memory', {
  async create(timeoutMs) {
    return { store: new MemoryPresenceStore(timeoutMs), close: async () => {} };
  },
});

rateLimiterContract('memory', {
  async create() {
    return { limiter: new MemoryRateLimiter(), close: async () => {} };
  },
});

counterContract('memory', {
  async create() {
    return { store: new MemoryCounterStore(), close: async () => {} };
  },
});
