import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { DEFAULT_CONNECTION_STALE_MS } from './memory/connections.js';
import { createMemoryEngine } from './memory/engine.js';
import { SLOT_REFRESH_MS } from './redis/subscriptions.js';
import { createRedisEngine, quit } from './redis/engine.js';
import type { RedisClient } from './redis/connection.js';
import type { Engine } from './types.js';

/** What `new Server(http, { adapter })` accepts: the adapter constructor the Redis adapter builds. */
export type AdapterConstructor = ReturnType<typeof createAdapter>;

export interface BuiltEngine {
  engine: Engine;
  /** The Socket.IO adapter for fan-out between instances (Redis with clustering on). */
  adapter?: AdapterConstructor;
}

/** Logs a repeated connection error at most once per interval. */
function throttledErrorLog(logger: Logger, intervalMs = 10_000) {
  let last = 0;
  let suppressed = 0;
  return (err: Error, connection: string) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    logger.warn({ err: { message: err.message }, connection, suppressed }, 'redis connection error');
    last = now;
    suppressed = 0;
  };
}

function buildClient(config: NonNullable<Config['redis']>): RedisClient {
  const common: RedisOptions = {
    // Fail a command after one reconnect attempt instead of queueing it for long: callers answer clients with a coded error.
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    connectTimeout: 5000,
    // Commands issued in the same tick (many clients sending at once) go out in one write; order is kept.
    enableAutoPipelining: true,
    ...(config.password !== undefined && { password: config.password }),
    ...(config.tls && { tls: {} }),
  };
  if (config.clusterNodes) {
    return new Cluster(config.clusterNodes, {
      redisOptions: common,
      // Read the slot map periodically, not only after errors: a master handing its slots over (CLUSTER FAILOVER,
      // resharding) drops sharded subscriptions without closing anything, and ioredis moves them only once it sees the
      // new map. Inherited by the duplicates: the engine's subscriber and the adapter's connections.
      slotsRefreshInterval: SLOT_REFRESH_MS,
      clusterRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      ...(config.sharded && { shardedSubscribers: true }),
    });
  }
  return new Redis(config.url as string, common);
}

/**
 * The adapter's subscriber connection. The adapter subscribes once, when Socket.IO creates the namespace, and drops
 * the promise: its commands wait for Redis however long it is away (a subscription failed after one retry, when the
 * instance started before Redis, would never be made again: the instance became ready deaf to other instances),
 * and a failure (the connection closed before Redis answered) is logged instead of being an unhandled rejection.
 */
function adapterSubscriber(client: RedisClient, sharded: boolean, onError: (err: Error) => void): RedisClient {
  const sub =
    client instanceof Cluster
      ? client.duplicate([], { ...(sharded && { shardedSubscribers: true }), redisOptions: { ...client.options.redisOptions, maxRetriesPerRequest: null } })
      : client.duplicate({ maxRetriesPerRequest: null });
  const methods = ['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe'] as const;
  const commands = sub as unknown as Record<(typeof methods)[number], (...args: unknown[]) => Promise<unknown>>;
  for (const name of methods) {
    const command = commands[name].bind(sub);
    commands[name] = (...args) => {
      const reply = command(...args);
      reply.catch(onError);
      return reply;
    };
  }
  return sub;
}

/** The engine the configuration asks for: embedded memory, or Redis when REDIS_* is set. */
export async function buildEngine(config: Readonly<Config>, logger: Logger, metrics: Metrics): Promise<BuiltEngine> {
  const retention = {
    ttlSeconds: config.persistence.ttlSeconds,
    maxMessages: config.persistence.maxMessages,
    dedupeWindowSeconds: config.persistence.dedupeWindowSeconds,
  };
  // Maintenance rounds refresh connection records every HEARTBEAT_INTERVAL / 2: a live one is refreshed at least four times within this.
  const connectionStaleMs = Math.max(DEFAULT_CONNECTION_STALE_MS, 2 * config.heartbeatIntervalMs);
  if (!config.redis) {
    return { engine: createMemoryEngine({ retention, presenceTimeoutMs: config.heartbeatTimeoutMs, connectionStaleMs }) };
  }
  const r = config.redis;
  const logError = throttledErrorLog(logger);
  const client = buildClient(r);
  const latency = new Map<string, ReturnType<typeof metrics.redisLatency.labels>>();
  const engine = createRedisEngine({
    client,
    // Standalone with Redis (CLUSTERING_ENABLED=false): history, presence and limits in Redis, delivery to this instance's members only.
    fanOut: config.clustering,
    keyPrefix: r.keyPrefix,
    retention,
    presenceTimeoutMs: config.heartbeatTimeoutMs,
    connectionStaleMs,
    sharded: r.sharded,
    commandTimeoutMs: r.commandTimeoutMs,
    observe: (op, ms) => {
      let h = latency.get(op);
      if (!h) latency.set(op, (h = metrics.redisLatency.labels(op)));
      h.observe(ms);
    },
    onError: (err, connection) => logError(err, connection),
  });
  if (!config.clustering) return { engine };

  // Fan-out of everything but room messages (presence, system events, cross-instance socket operations).
  const pub = client.duplicate();
  let closing = false;
  // A subscription or a connection cut short by closing (a start that failed while connecting) is no news.
  const adapterError = (connection: string) => (err: Error) => {
    if (!closing) logError(err, connection);
  };
  const sub = adapterSubscriber(client, r.sharded, adapterError('adapter-sub'));
  pub.on('error', adapterError('adapter-pub'));
  sub.on('error', adapterError('adapter-sub'));
  const key = `${r.keyPrefix}socket.io`;
  const adapter = r.sharded ? createShardedAdapter(pub, sub, { channelPrefix: key }) : createAdapter(pub, sub, { key });
  return {
    adapter: adapter as AdapterConstructor,
    engine: {
      ...engine,
      async close() {
        closing = true;
        await engine.close();
        // The adapter's close() unsubscribes without waiting for Redis to answer: a PING answered means those
        // answers are in, so quitting rejects none of them (they would be unhandled rejections).
        if (sub.status === 'ready') await sub.ping().catch(() => {});
        await Promise.all([quit(pub), quit(sub)]);
      },
    },
  };
}
