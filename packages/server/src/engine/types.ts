/**
 * The seams between the real-time layer and the state Socket.IO does not keep, one contract per
 * file under contracts/, all of them importable from here. Each interface has a memory
 * implementation (engine/memory, the embedded default) and a Redis implementation (engine/redis,
 * for many instances); one contract test suite per interface runs against both (and a Redis Cluster).
 */
export * from './contracts/room-key.js';
export * from './contracts/stream.js';
export * from './contracts/presence.js';
export * from './contracts/rate-limiter.js';
export * from './contracts/connections.js';
export * from './contracts/instances.js';
export * from './contracts/revocations.js';
export * from './contracts/webhooks.js';
export * from './contracts/engine.js';
