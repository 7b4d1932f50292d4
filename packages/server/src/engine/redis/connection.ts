import type { Cluster, Redis } from 'ioredis';

/** A standalone connection or a Cluster: the engine works with either. */
export type RedisClient = Redis | Cluster;

/** Receives the duration of each Redis operation (for a latency histogram). */
export type ObserveLatency = (op: string, ms: number) => void;

/** An operation refused because the connection to Redis is down. */
export class RedisUnavailableError extends Error {
  readonly code = 'REDIS_UNAVAILABLE';
  constructor(status: string, message = `Redis is unavailable (connection ${status})`) {
    super(message);
    this.name = 'RedisUnavailableError';
  }
}

/** Default of `RedisEngineOptions.commandTimeoutMs`. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;

/** Whether a client has ever been ready: one tracker per client, shared by every store using it. */
const everReady = new WeakMap<RedisClient, { ready: boolean }>();

function readiness(client: RedisClient): { ready: boolean } {
  let state = everReady.get(client);
  if (!state) {
    const s = { ready: client.status === 'ready' };
    client.on('ready', () => (s.ready = true));
    everReady.set(client, s);
    state = s;
  }
  return state;
}

/**
 * Fails fast while Redis is away. ioredis would queue a command issued while
 * it reconnects and run it much later (or fail it after many retries); the
 * real-time layer wants an immediate error instead, so it can answer the
 * client. Before the first connection commands are let through, so a store
 * can be used while the client is still connecting.
 */
export function assertAvailable(client: RedisClient): void {
  if (client.status !== 'ready' && readiness(client).ready) throw new RedisUnavailableError(client.status);
}

export type ScriptArg = string | number;
export type ScriptCall = (...keysAndArgs: ScriptArg[]) => Promise<unknown>;

/**
 * A Lua script as a command of the client (ioredis `defineCommand`: EVALSHA,
 * falling back to EVAL when the server does not have it cached, e.g. after a
 * restart). Keys come first in the arguments, then ARGV.
 */
export function defineScript(client: RedisClient, name: string, numberOfKeys: number, lua: string): ScriptCall {
  client.defineCommand(name, { numberOfKeys, lua });
  const fn = (client as unknown as Record<string, ScriptCall | undefined>)[name];
  if (typeof fn !== 'function') throw new Error(`script ${name} was not defined`);
  return fn.bind(client);
}

/**
 * Runs one operation: refuses it while Redis is down, gives up on it after a
 * deadline, and reports its duration.
 *
 * The deadline is there because ioredis can leave a command pending for good:
 * on a Cluster, a command retried after `CLUSTERDOWN` or a closed connection
 * waits in a delay queue for a slot-map refresh, and during a failover under
 * load such a command was seen never to settle (the failover test caught a
 * history read still pending 45 s after the new master had taken over, with
 * every later message of the room held behind it). Past the deadline the
 * caller gets a `REDIS_UNAVAILABLE` error it already knows how to handle; the
 * command itself may still run later (a write retried by the client is
 * deduplicated by its `clientMessageId`).
 */
export class RedisOps {
  constructor(
    readonly client: RedisClient,
    private readonly observe?: ObserveLatency,
    private readonly timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ) {
    readiness(client);
  }

  async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    assertAvailable(this.client);
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new RedisUnavailableError('timeout', `Redis did not answer ${op} within ${this.timeoutMs} ms`)),
          this.timeoutMs,
        );
      });
      return await Promise.race([fn(), deadline]);
    } finally {
      clearTimeout(timer);
      this.observe?.(op, performance.now() - started);
    }
  }
}

/**
 * Lua: formats an integral number without exponent (Lua's tostring gives `1.7e+15`).
 * `%d` (a C long in Redis's Lua) prints the same digits as `%.0f` for the integers
 * the scripts format (sequences, millisecond times, counts: far below 2^63) at a
 * fraction of the cost: `%.0f` goes through glibc's multi-precision float printing,
 * which showed in Redis's CPU profile of the append script.
 */
export const LUA_INT = `local function int(n) return string.format('%d', n) end
`;
