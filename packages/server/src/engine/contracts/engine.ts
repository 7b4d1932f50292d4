import type { ConnectionRegistry } from './connections.js';
import type { InstanceRegistry } from './instances.js';
import type { PresenceStore } from './presence.js';
import type { RateLimiter } from './rate-limiter.js';
import type { RevocationStore } from './revocations.js';
import type { RoomStream } from './stream.js';
import type { WebhookStore } from './webhooks.js';

export interface Closer {
  close(): Promise<void>;
}

export interface HealthCheck {
  name: string;
  check(): Promise<{ ok: boolean; latencyMs?: number; detail?: string }>;
}

/** Everything the real-time layer needs from an engine. */
export interface Engine extends Closer {
  readonly name: 'memory' | 'redis';
  /** Room messages: ids, history, delivery to every instance with members. */
  readonly stream: RoomStream;
  /** Presence per room and user; rooms with live presence per tenant, and their occupancy. */
  readonly presence: PresenceStore;
  /** Token buckets shared by every instance of the deployment (one process for the embedded engine). */
  readonly rateLimiter: RateLimiter;
  /** Live connections by user, shared by every instance: MAX_CONNECTIONS_PER_USER, and where a user is connected. */
  readonly connections: ConnectionRegistry;
  /** The live instances of the deployment and what each reports of itself. */
  readonly instances: InstanceRegistry;
  readonly revocations: RevocationStore;
  /** The webhook outbox: held leaves, per-endpoint queues, leases, dead letters, crash tracking. */
  readonly webhooks: WebhookStore;
  readonly health: HealthCheck[];
}
