import type { Cluster } from 'ioredis';
import type { Engine, HealthCheck, Retention } from '../types.js';
import { assertAvailable, type ObserveLatency, type RedisClient } from './connection.js';
import { RedisConnectionRegistry } from './connections.js';
import { RedisInstanceRegistry } from './instances.js';
import { KeySpace } from './keys.js';
import { RedisPresenceStore } from './presence.js';
import { RedisRateLimiter } from './rate-limiter.js';
import { RedisRevocationStore } from './revocations.js';
import { RedisRoomStream } from './stream.js';
import { RedisWebhookStore } from './webhooks.js';

export interface RedisEngineOptions {
  /** Command connection (standalone `Redis` or `Cluster`), built by the caller. */
  client: RedisClient;
  /**
   * Deliver room messages to every instance through pub/sub (default true).
   * False: this instance only (CLUSTERING_ENABLED=false); no subscriber
   * connection is opened.
   */
  fanOut?: boolean;
  /**
   * Connection for subscriptions. A standalone one cannot run other commands
   * once subscribed, so it must not be `client`; a `Cluster` subscribes on
   * connections of its own and may be `client` itself. When absent, the engine
   * duplicates `client` (with `shardedSubscribers` for a sharded Cluster).
   */
  subscriber?: RedisClient;
  /** Start of every key (default `ig:`); no braces. */
  keyPrefix?: string;
  retention: Retention;
  /** Presence entries not touched for this long expire. */
  presenceTimeoutMs: number;
  /** Connection records not refreshed for this long stop counting (default 120000). */
  connectionStaleMs?: number;
  /** Sharded pub/sub (Redis 7 SPUBLISH/SSUBSCRIBE), for Redis Cluster. */
  sharded?: boolean;
  /** Duration of each Redis operation, e.g. for a `websocket_redis_latency_ms` histogram. */
  observe?: ObserveLatency;
  /**
   * Connection errors (ioredis emits them while it reconnects). The engine
   * listens for them so they never crash the process; pass this to log them.
   */
  onError?: (err: Error, connection: 'command' | 'subscriber') => void;
  /** A health check not answered within this time fails (default 2000 ms). */
  healthTimeoutMs?: number;
  /**
   * An operation (script, command or subscription) Redis has not answered
   * within this time fails with a `REDIS_UNAVAILABLE` error instead of
   * waiting on (default 5000 ms).
   */
  commandTimeoutMs?: number;
}

function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** QUIT, or a plain disconnect when Redis does not answer within 2 s (unreachable, or never reached). */
export async function quit(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  try {
    await withTimeout(client.quit(), 2000, 'QUIT');
  } catch {
    client.disconnect();
  }
}

/**
 * The engine for many instances sharing one Redis (standalone, or a Cluster
 * with `sharded: true`). Operations reject with an Error while Redis is
 * unreachable and work again once ioredis has reconnected. `close()` quits
 * both connections, the caller's included.
 *
 * Client options that fit: `maxRetriesPerRequest: 1` (a command in flight when
 * the connection drops fails after one reconnect attempt instead of twenty)
 * and a bounded `retryStrategy`; keep ioredis' defaults `autoResubscribe` and
 * `enableOfflineQueue` (commands issued before the first connection wait for
 * it; after that the engine refuses them itself while disconnected).
 */
export function createRedisEngine(opts: RedisEngineOptions): Engine & { readonly stream: RedisRoomStream } {
  const { client, observe } = opts;
  const sharded = opts.sharded ?? false;
  const fanOut = opts.fanOut ?? true;
  const subscriber = !fanOut
    ? undefined
    : (opts.subscriber ?? (isCluster(client) ? client.duplicate([], sharded ? { shardedSubscribers: true } : {}) : client.duplicate()));
  if (sharded && subscriber && isCluster(subscriber) && !subscriber.options.shardedSubscribers) {
    throw new Error('a sharded Redis engine on a Cluster needs a subscriber built with shardedSubscribers: true');
  }
  if (subscriber === client && !isCluster(client)) {
    throw new Error('the subscriber connection must not be the command connection (subscribed connections run no other command)');
  }
  const report = opts.onError ?? (() => {});
  const onClientError = (err: Error) => report(err, 'command');
  const onSubscriberError = (err: Error) => report(err, 'subscriber');
  client.on('error', onClientError);
  if (subscriber && subscriber !== client) subscriber.on('error', onSubscriberError);

  const keys = new KeySpace(opts.keyPrefix);
  const common = {
    keys,
    ...(observe ? { observe } : {}),
    ...(opts.commandTimeoutMs !== undefined ? { commandTimeoutMs: opts.commandTimeoutMs } : {}),
  };
  const rateLimiter = new RedisRateLimiter({ client, ...common });
  const stream = new RedisRoomStream({ client, retention: opts.retention, limiter: rateLimiter, sharded, ...(subscriber && { subscriber }), ...common });
  const healthTimeout = opts.healthTimeoutMs ?? 2000;

  const health: HealthCheck[] = [
    {
      name: 'redis',
      async check() {
        const started = performance.now();
        try {
          assertAvailable(client);
          await withTimeout(client.ping(), healthTimeout, 'PING');
          const latencyMs = performance.now() - started;
          observe?.('ping', latencyMs);
          return { ok: true, latencyMs };
        } catch (err) {
          return { ok: false, detail: (err as Error).message };
        }
      },
    },
  ];
  if (subscriber) {
    health.push({
      name: 'redis-subscriber',
      async check() {
        const ok = subscriber.status === 'ready';
        return ok ? { ok } : { ok, detail: `connection ${subscriber.status}` };
      },
    });
  }

  return {
    name: 'redis',
    stream,
    presence: new RedisPresenceStore({ client, timeoutMs: opts.presenceTimeoutMs, ...common }),
    rateLimiter,
    connections: new RedisConnectionRegistry({
      client,
      ...common,
      ...(opts.connectionStaleMs !== undefined ? { staleMs: opts.connectionStaleMs } : {}),
    }),
    revocations: new RedisRevocationStore({ client, ...common }),
    instances: new RedisInstanceRegistry({ client, ...common }),
    webhooks: new RedisWebhookStore({ client, ...common }),
    health,
    async close() {
      const own = subscriber && subscriber !== client ? subscriber : undefined;
      await Promise.all([quit(client), own ? quit(own) : Promise.resolve()]);
      // Errors after quitting (a late reconnect attempt) are of no interest; keep a listener so none is unhandled.
      client.off('error', onClientError);
      client.on('error', () => {});
      if (own) {
        own.off('error', onSubscriberError);
        own.on('error', () => {});
      }
    },
  };
}
