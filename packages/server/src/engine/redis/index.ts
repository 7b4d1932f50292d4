export { createRedisEngine, type RedisEngineOptions } from './engine.js';
export { RedisRoomStream, type RedisRoomStreamOptions } from './stream.js';
export { RedisPresenceStore, type RedisPresenceOptions } from './presence.js';
export { RedisRateLimiter, type RedisRateLimiterOptions } from './rate-limiter.js';
export { RedisCounterStore, type RedisCounterOptions } from './counters.js';
export { KeySpace } from './keys.js';
export { RedisUnavailableError, type ObserveLatency, type RedisClient } from './connection.js';
