import { createMemoryEngine } from '../../src/engine/memory/engine.js';
import { MemoryPresenceStore } from '../../src/engine/memory/presence.js';
import { MemoryRevocationStore } from '../../src/engine/memory/revocations.js';
import { MemoryConnectionRegistry } from '../../src/engine/memory/connections.js';
import { MemoryInstanceRegistry } from '../../src/engine/memory/instances.js';
import { MemoryRateLimiter } from '../../src/engine/memory/rate-limiter.js';
import type { StreamFactory, StreamInstance } from './stream.contract.js';
import { streamBatchContract } from './stream-batch.contract.js';
import { connectionsContract } from './connections.contract.js';
import { instancesContract } from './instances.contract.js';
import { presenceContract } from './presence.contract.js';
import { rateLimiterContract } from './rate-limiter.contract.js';
import { revocationContract } from './revocation.contract.js';
import { streamContract } from './stream.contract.js';
import { webhooksContract } from './webhooks.contract.js';
import { MemoryWebhookStore } from '../../src/engine/memory/webhooks.js';

const memoryStreams: StreamFactory = {
  async create(retention) {
    const engine = createMemoryEngine({ retention, presenceTimeoutMs: 60_000 });
    const a: StreamInstance = { stream: engine.stream, limiter: engine.rateLimiter, received: [] };
    engine.stream.onMessage((key, msg, except) => a.received.push({ key, msg, except }));
    return { a, b: a, close: () => engine.close(), stateHeld: async () => engine.stream.roomsHeld() };
  },
};
streamContract('memory', memoryStreams);
streamBatchContract('memory', memoryStreams);

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

connectionsContract('memory', {
  async create(staleMs) {
    const revocations = new MemoryRevocationStore();
    return { registry: new MemoryConnectionRegistry(staleMs, revocations), revocations, close: async () => {} };
  },
});

instancesContract('memory', {
  shared: false,
  async create() {
    const registry = new MemoryInstanceRegistry();
    return { a: registry, b: registry, close: async () => {} };
  },
});

revocationContract('memory', {
  async create() {
    return { store: new MemoryRevocationStore(), close: async () => {} };
  },
});

webhooksContract('memory', {
  async create() {
    const store = new MemoryWebhookStore();
    return { a: store, b: store, close: async () => {} };
  },
});
