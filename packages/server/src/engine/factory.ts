import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { createMemoryEngine } from './memory/engine.js';
import type { Engine } from './types.js';

export interface BuiltEngine {
  engine: Engine;
  /** Installs the Socket.IO adapter for fan-out between instances, when clustering. */
  adapter?: unknown;
}

/** The engine the configuration asks for: embedded memory, or Redis when REDIS_* is set. */
export async function buildEngine(config: Readonly<Config>, logger: Logger, metrics: Metrics): Promise<BuiltEngine> {
  void logger;
  void metrics;
  const retention = {
    ttlSeconds: config.persistence.ttlSeconds,
    maxMessages: config.persistence.maxMessages,
    dedupeWindowSeconds: config.persistence.dedupeWindowSeconds,
  };
  if (config.redis) {
    throw new Error('The Redis engine is not available in this build');
  }
  return { engine: createMemoryEngine({ retention, presenceTimeoutMs: config.heartbeatTimeoutMs }) };
}
