/** Public API of the server library. */
export { createServer, type CreateServerOptions, type RealtimeServer } from './app.js';
export { loadConfig, withDotEnv, ConfigError, type Config, type RedisConfig } from './config.js';
export { createLogger, type Logger } from './logger.js';
export { mintToken, type MintOptions } from './auth/mint.js';
export { secretId, type HmacSecret } from './auth/secrets.js';
export type { AuthContext, AuthorizeHook, RoomAction } from './auth/authorize.js';
export type { Identity } from './auth/verify.js';
export { CodedError } from './errors.js';
export type {
  Engine,
  RoomStream,
  PresenceStore,
  RateLimiter,
  CounterStore,
  RoomKey,
  NewMessage,
  PublishOptions,
  Published,
  ReadQuery,
  HistoryPage,
  PresenceChange,
  Retention,
} from './engine/types.js';
export { createMemoryEngine } from './engine/memory/engine.js';
