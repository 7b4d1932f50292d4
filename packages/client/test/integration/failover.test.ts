import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../../server/test/helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import { ClientPool, record, sleep, until } from '../helpers/harness.js';

let redis: RedisServer;
let a: ServerProcess;
let b: ServerProcess;
const pool = new ClientPool();

beforeAll(async () => {
  redis = await startRedisServer();
  [a, b] = await Promise.all([startServerProcess({ REDIS_URL: redis.url }), startServerProcess({ REDIS_URL: redis.url })]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});
afterEach(() => pool.closeAll());

// Runs first: the next suite kills instance A.
describe('two instances while their Redis restarts', () => {
  it('a send answered INTERNAL while Redis is away is sent again, acknowledged, and delivered once', async () => {
    const alice = await pool.create(a.url, 'alice');
    const bob = await pool.create(b.url, 'bob');
    const bobSeen = record(bob);
    const aliceSeen = record(alice);
    await bob.joinRoom('blip');
    await alice.joinRoom('blip');
    const first = await alice.sendMessage('blip', { i: 0 }, true);
    await until(() => bob.lastMessageId('blip') === first, 'the first message at bob');

    await redis.kill();
    // Alice stays connected; her server answers INTERNAL while it cannot reach Redis, and the SDK keeps the message.
    const sent = alice.sendMessage('blip', { i: 1 }, true);
    const outcome = sent.then(
      (id) => ({ id }),
      (err: Error) => ({ err }),
    );
    await sleep(1500);
    await redis.restart();
    const result = await outcome;
    expect(result).toMatchObject({ id: expect.any(String) });
    const id = (result as { id: string }).id;

    await until(() => bob.lastMessageId('blip') === id, 'the retried message at bob');
    expect(bobSeen.messages.map((m) => (m.payload as { i: number }).i)).toEqual([0, 1]);
    expect(aliceSeen.states).toEqual(['connected']);
  });
});

describe('two instances on one Redis', () => {
  it('after kill -9 of its instance, a client carries on through the other one without loss or duplicates', async () => {
    const alice = await pool.create([a.url, b.url], 'alice');
    const bob = await pool.create(b.url, 'bob');
    const bobSeen = record(bob);
    const aliceSeen = record(alice);
    await bob.joinRoom('failover');
    await alice.joinRoom('failover');
    const firstServer = alice.connectionInfo?.serverId;
    expect(firstServer).toBeDefined();
    expect(firstServer).not.toBe(bob.connectionInfo?.serverId);

    const acked: string[] = [];
    const sends: Promise<void>[] = [];
    let n = 0;
    const send = () => {
      const i = n++;
      sends.push(alice.sendMessage('failover', { i }, true).then((id) => void (acked[i] = id)));
    };
    for (let i = 0; i < 10; i++) {
      send();
      await sleep(10);
    }
    await Promise.all(sends);
    await until(() => bobSeen.messages.length === 10, 'the first messages at bob (across instances)');

    // A burst in flight and queued at the moment of the crash.
    for (let i = 0; i < 20; i++) send();
    let killed = false;
    const kill = a.kill().then(() => (killed = true));
    while (!killed) {
      send();
      await sleep(5);
    }
    await kill;
    for (let i = 0; i < 20; i++) {
      send();
      await sleep(10);
    }
    await Promise.all(sends);
    expect(acked).toHaveLength(n);
    expect(alice.connectionInfo?.serverId).toBe(bob.connectionInfo?.serverId);
    expect(aliceSeen.states).toEqual(['connected', 'reconnecting', 'connected']);

    await until(() => bob.lastMessageId('failover') === acked[n - 1], 'every message at bob');
    expect(bobSeen.messages.map((m) => m.id)).toEqual(acked);
    expect(bobSeen.messages.map((m) => (m.payload as { i: number }).i)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(bobSeen.states).toEqual(['connected']);
  });
});
