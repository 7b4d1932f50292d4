import type { Redis } from 'ioredis';
import type { RedisClient } from '../../src/engine/redis/connection.js';
import { RedisConnectionRegistry } from '../../src/engine/redis/connections.js';
import { RedisInstanceRegistry } from '../../src/engine/redis/instances.js';
import { KeySpace } from '../../src/engine/redis/keys.js';
import { RedisPresenceStore } from '../../src/engine/redis/presence.js';
import { RedisRateLimiter } from '../../src/engine/redis/rate-limiter.js';
import { RedisRevocationStore } from '../../src/engine/redis/revocations.js';
import { RedisRoomStream } from '../../src/engine/redis/stream.js';
import type { Retention } from '../../src/engine/types.js';
import { connectionsContract } from './connections.contract.js';
import { instancesContract } from './instances.contract.js';
import { presenceContract } from './presence.contract.js';
import { rateLimiterContract } from './rate-limiter.contract.js';
import { revocationContract } from './revocation.contract.js';
import { streamBatchContract } from './stream-batch.contract.js';
import { streamContract, type StreamContext, type StreamFactory, type StreamInstance } from './stream.contract.js';
import { webhooksContract } from './webhooks.contract.js';
import { RedisWebhookStore } from '../../src/engine/redis/webhooks.js';

/** A private Redis (or Cluster) for the contracts; read when a test runs, after the suite's beforeAll started it. */
export interface RedisEnv {
  /** The shared command connection. */
  client: RedisClient;
  /** A new connection for one instance's subscriptions (sharded: a Cluster built for sharded subscribers). */
  subscriber(sharded: boolean): RedisClient;
  /** A connection to each master, for what an operator or a fault does to the servers. */
  masters(): Redis[];
}

async function countKeys(masters: Redis[], prefix: string): Promise<number> {
  let n = 0;
  for (const node of masters) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      n += keys.length;
    } while (cursor !== '0');
  }
  return n;
}

/**
 * The room stream, presence, rate-limiter, connection-registry, instance-registry and revocation contracts on Redis stores. Each store gets its
 * own key prefix, as separate deployments would: a sweep sees only its rooms.
 */
export function redisContracts(name: string, env: () => RedisEnv, variants: { sharded: boolean; label: string }[]): void {
  let n = 0;
  const keys = () => new KeySpace(`${name.replace(/\W/g, '')}${++n}:`);
  const flushAll = async () => void (await Promise.all(env().masters().map((m) => m.flushall())));

  const streamOn = (e: RedisEnv, retention: Retention, space: KeySpace, sharded: boolean, fanOut: boolean) => {
    const subscriber = fanOut ? e.subscriber(sharded) : undefined;
    const limiter = new RedisRateLimiter({ client: e.client, keys: space });
    let reads = 0;
    const stream = new RedisRoomStream({
      client: e.client,
      retention,
      limiter,
      sharded,
      keys: space,
      ...(subscriber && { subscriber }),
      observe: (op) => {
        if (op === 'stream.read') reads++;
      },
    });
    const inst: StreamInstance = { stream, limiter, received: [] };
    stream.onMessage((key, msg, except) => inst.received.push({ key, msg, except }));
    return { inst, reads: () => reads, close: () => subscriber?.disconnect() };
  };

  for (const { sharded, label } of variants) {
    const across: StreamFactory = {
      acrossInstances: true,
      async create(retention) {
        const e = env();
        const space = keys();
        const a = streamOn(e, retention, space, sharded, true);
        const b = streamOn(e, retention, space, sharded, true);
        const ctx: StreamContext = {
          a: a.inst,
          b: b.inst,
          close: async () => {
            a.close();
            b.close();
          },
          wipe: flushAll,
          dropSubscriptions: async () => void (await Promise.all(e.masters().map((m) => m.call('CLIENT', 'KILL', 'TYPE', 'pubsub')))),
          readsByA: a.reads,
          stateHeld: () => countKeys(e.masters(), space.prefix),
        };
        return ctx;
      },
    };
    streamContract(`${name}, ${label}`, across);
    streamBatchContract(`${name}, ${label}`, across);
  }
  const local: StreamFactory = {
    async create(retention) {
      const e = env();
      const space = keys();
      const a = streamOn(e, retention, space, false, false);
      return { a: a.inst, b: a.inst, close: async () => a.close(), wipe: flushAll, stateHeld: () => countKeys(e.masters(), space.prefix) };
    },
  };
  streamContract(`${name}, this instance only`, local);
  streamBatchContract(`${name}, this instance only`, local);
  presenceContract(name, {
    async create(timeoutMs) {
      return { store: new RedisPresenceStore({ client: env().client, timeoutMs, keys: keys() }), close: async () => {}, wipe: flushAll };
    },
  });
  rateLimiterContract(name, {
    async create() {
      return { limiter: new RedisRateLimiter({ client: env().client, keys: keys() }), close: async () => {} };
    },
  });
  connectionsContract(name, {
    async create(staleMs) {
      const client = env().client;
      const space = keys();
      return {
        registry: new RedisConnectionRegistry({ client, keys: space, staleMs }),
        revocations: new RedisRevocationStore({ client, keys: space }),
        close: async () => {},
        wipe: flushAll,
      };
    },
  });
  instancesContract(name, {
    shared: true,
    async create() {
      const space = keys();
      const client = env().client;
      return { a: new RedisInstanceRegistry({ client, keys: space }), b: new RedisInstanceRegistry({ client, keys: space }), close: async () => {}, wipe: flushAll };
    },
  });
  revocationContract(name, {
    async create() {
      return { store: new RedisRevocationStore({ client: env().client, keys: keys() }), close: async () => {} };
    },
  });
  webhooksContract(name, {
    async create() {
      const space = keys();
      const client = env().client;
      return { a: new RedisWebhookStore({ client, keys: space }), b: new RedisWebhookStore({ client, keys: space }), close: async () => {} };
    },
  });
}
