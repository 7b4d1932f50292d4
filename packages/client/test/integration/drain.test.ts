import { io } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../../server/test/helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import type { ClientSocket, SocketFactory, StateChange, Timers } from '../../src/index.js';
import { defaultTimers } from '../../src/timers.js';
import { ClientPool, record, sleep, until } from '../helpers/harness.js';

let redis: RedisServer;
/** Drains slowly (SHUTDOWN_TIMEOUT 20 s): its clients are expected to leave by themselves. */
let patient: ServerProcess;
/** Closes its clients 300 ms into a drain, before the time it told them. */
let hasty: ServerProcess;
/** Stays up: where the clients go. */
let other: ServerProcess;
const pool = new ClientPool();

beforeAll(async () => {
  redis = await startRedisServer();
  [patient, hasty, other] = await Promise.all([
    startServerProcess({ REDIS_URL: redis.url, SHUTDOWN_TIMEOUT: '20000', RECONNECT_JITTER: '400', LOG_LEVEL: 'info' }),
    startServerProcess({ REDIS_URL: redis.url, SHUTDOWN_TIMEOUT: '300', RECONNECT_JITTER: '400' }),
    startServerProcess({ REDIS_URL: redis.url }),
  ]);
});
afterAll(async () => {
  await Promise.all([patient?.stop(), hasty?.stop(), other?.stop()]);
  await redis?.stop();
});
afterEach(() => pool.closeAll());

/** Real timers, except that delays of `limitMs` or more are held (and recorded) until `fire()`. */
function holdingTimers(limitMs: number): { timers: Timers; held: () => number[]; fire(): void } {
  let next = 1;
  const held = new Map<number, { fn: () => void; ms: number }>();
  return {
    timers: {
      ...defaultTimers,
      setTimeout(fn, ms) {
        if (ms < limitMs) return defaultTimers.setTimeout(fn, ms);
        const id = -next++;
        held.set(id, { fn, ms });
        return id;
      },
      clearTimeout(handle) {
        if (typeof handle === 'number' && handle < 0) held.delete(handle);
        else defaultTimers.clearTimeout(handle);
      },
    },
    held: () => [...held.values()].map((h) => h.ms),
    fire() {
      const due = [...held.values()];
      held.clear();
      for (const h of due) h.fn();
    },
  };
}

describe('a draining instance (SIGTERM) and the SDK', () => {
  it('the client leaves at the time system:restart gave, so the drain ends without waiting for SHUTDOWN_TIMEOUT; nothing lost', async () => {
    const alice = await pool.create([patient.url, other.url], 'alice');
    const bob = await pool.create(other.url, 'bob');
    const bobSeen = record(bob);
    await bob.joinRoom('drain');
    await alice.joinRoom('drain');
    const changes: StateChange[] = [];
    alice.on('status:change', (_state, change) => changes.push(change));
    const restarts: number[] = [];
    alice.on('system:restart', ({ reconnectIn }) => restarts.push(reconnectIn));
    const drainedFrom = alice.connectionInfo?.serverId;

    const acked: string[] = [];
    const sends: Promise<void>[] = [];
    let n = 0;
    const send = () => {
      const i = n++;
      sends.push(alice.sendMessage('drain', { i }, true).then((id) => void (acked[i] = id)));
    };
    for (let i = 0; i < 5; i++) send();
    const stopped = patient.stop();
    let exited = false;
    void stopped.then(() => (exited = true));
    // Sending on through the drain and the move.
    while (!exited) {
      send();
      await sleep(20);
    }
    expect(await stopped).toBe(0);
    await Promise.all(sends);

    const log = patient.output();
    expect(log).toContain('"msg":"draining"');
    // The instance ended its drain because its one client had gone, not at its SHUTDOWN_TIMEOUT.
    expect(log).not.toContain('drain timeout');
    expect(restarts).toHaveLength(1);
    expect(changes.map((c) => [c.newState, c.reason])).toEqual([
      ['reconnecting', 'server restart'],
      ['connected', 'connected'],
    ]);
    expect(alice.connectionInfo?.serverId).not.toBe(drainedFrom);
    expect(alice.connectionInfo?.serverId).toBe(bob.connectionInfo?.serverId);
    await until(() => bobSeen.messages.length === n, 'every message at bob');
    expect(bobSeen.messages.map((m) => m.id)).toEqual(acked);
  }, 30_000);

  it('closed by the server before that time, the client waits for the rest of it and then tries the next URL', async () => {
    // The server's restart notice as if it had drawn 60 s, so that its SHUTDOWN_TIMEOUT (300 ms) ends first.
    const factory: SocketFactory = (url, options) => {
      const socket: ClientSocket = io(url, options);
      const on = socket.on.bind(socket) as (event: string, fn: (...args: unknown[]) => void) => ClientSocket;
      (socket as unknown as { on: typeof on }).on = (event, fn) =>
        on(event, event === 'system:restart' ? (data) => fn({ ...(data as object), reconnectIn: 60_000 }) : fn);
      return socket;
    };
    const clock = holdingTimers(10_000);
    const alice = await pool.create([hasty.url, other.url], 'alice', { socketFactory: factory, timers: clock.timers });
    const changes: StateChange[] = [];
    alice.on('status:change', (_state, change) => changes.push(change));
    const restarted = new Promise<number>((resolve) => alice.on('system:restart', ({ reconnectIn }) => resolve(reconnectIn)));
    await until(() => alice.status === 'connected', 'alice connected to the instance about to drain');
    const drainedFrom = alice.connectionInfo?.serverId;

    const stopped = hasty.stop();
    expect(await restarted).toBe(60_000);
    expect(await stopped).toBe(0);
    await until(() => alice.status === 'reconnecting', 'alice closed by the draining server');
    expect(changes.map((c) => [c.newState, c.reason])).toEqual([
      ['connected', 'connected'],
      ['reconnecting', 'io server disconnect'],
    ]);
    // Only the next attempt is waiting, for what is left of the 60 s.
    await sleep(300);
    const waits = clock.held();
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(55_000);
    expect(waits[0]).toBeLessThan(60_000);
    expect(alice.status).toBe('reconnecting');

    clock.fire();
    await until(() => alice.status === 'connected', 'alice connected again');
    const bob = await pool.create(other.url, 'bob');
    await until(() => bob.status === 'connected', 'bob connected');
    expect(alice.connectionInfo?.serverId).not.toBe(drainedFrom);
    expect(alice.connectionInfo?.serverId).toBe(bob.connectionInfo?.serverId);
  }, 30_000);
});
