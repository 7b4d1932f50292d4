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

/** An operation waiting for Redis, as the deadline sweep sees it. */
interface Pending {
  op: string;
  started: number;
  settled: boolean;
  fail: (err: Error) => void;
}

/**
 * Runs one operation: refuses it while Redis is down, gives up on it after a
 * deadline, and reports its duration.
 *
 * The deadline is there because a Redis that stops answering without closing
 * the connection (a network partition, a frozen host) leaves ioredis waiting
 * for good: no connection error reveals it, and a caller awaiting the answer
 * (a join, a send, a gap fill holding a room's live messages back) would wait
 * with it. Past the deadline the caller gets a `REDIS_UNAVAILABLE` error it
 * already handles; the command itself may still run later (a send repeated
 * with the same `clientMessageId` is then answered as a duplicate).
 */
export class RedisOps {
  /** Operations in flight; swept for expired deadlines while not empty. */
  private readonly pending = new Set<Pending>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    readonly client: RedisClient,
    private readonly observe?: ObserveLatency,
    private readonly timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ) {
    readiness(client);
  }

  run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      assertAvailable(this.client);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const started = performance.now();
    return new Promise<T>((resolve, reject) => {
      // One shared sweep instead of a timer per operation: a Set entry costs a fraction of setTimeout + Promise.race.
      const entry: Pending = { op, started, settled: false, fail: reject };
      this.pending.add(entry);
      if (!this.sweeper) this.startSweep();
      const settle = () => {
        if (entry.settled) return false;
        entry.settled = true;
        this.pending.delete(entry);
        this.observe?.(op, performance.now() - started);
        return true;
      };
      let result: Promise<T>;
      try {
        result = fn();
      } catch (err) {
        settle();
        reject(err);
        return;
      }
      result.then(
        (value) => settle() && resolve(value),
        (err: unknown) => settle() && reject(err),
      );
    });
  }

  private startSweep(): void {
    const every = Math.min(1000, Math.max(10, Math.floor(this.timeoutMs / 4)));
    this.sweeper = setInterval(() => {
      const now = performance.now();
      for (const entry of this.pending) {
        if (now - entry.started < this.timeoutMs) continue;
        entry.settled = true;
        this.pending.delete(entry);
        this.observe?.(entry.op, now - entry.started);
        entry.fail(new RedisUnavailableError('timeout', `Redis did not answer ${entry.op} within ${this.timeoutMs} ms`));
      }
      if (this.pending.size === 0) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
      }
    }, every);
    this.sweeper.unref();
  }
}
