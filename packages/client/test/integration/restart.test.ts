import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { io } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../../server/test/helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import type { ClientSocket, SocketFactory, WebSocketClient, WebSocketClientOptions } from '../../src/index.js';
import { ClientPool, record, recordingTimers, sleep, until } from '../helpers/harness.js';

let redis: RedisServer;
let server: ServerProcess;
const pool = new ClientPool();

beforeAll(async () => {
  redis = await startRedisServer();
  server = await startServerProcess({ REDIS_URL: redis.url, RECONNECT_JITTER: '300' });
});
afterAll(async () => {
  await server?.stop();
  await redis?.stop();
});
afterEach((ctx) => {
  pool.closeAll();
  // A failure shows what the server logged (warnings and errors) around it.
  if (ctx.task.result?.state === 'fail') console.error(`server output:\n${server.output().slice(-8000)}`);
});

const ids = (messages: RoomMessage[]) => messages.map((m) => m.id);

/** Both clients in `room`, with a first message seen by the receiver. */
async function pair(
  room: string,
  aliceOptions: Partial<WebSocketClientOptions> = {},
): Promise<{ alice: WebSocketClient; bob: WebSocketClient; bobSeen: ReturnType<typeof record>; first: string }> {
  const alice = await pool.create(server.url, 'alice', aliceOptions);
  const bob = await pool.create(server.url, 'bob');
  const bobSeen = record(bob);
  await bob.joinRoom(room);
  await alice.joinRoom(room);
  const first = await alice.sendMessage(room, { i: -1 }, true);
  await until(() => bobSeen.messages.length === 1, 'the first message at bob');
  return { alice, bob, bobSeen, first };
}

describe('across a server restart (Redis-backed history)', () => {
  it('every acknowledged persistent message reaches the other client exactly once, in order', async () => {
    const { timers, delays } = recordingTimers();
    const { alice, bob, bobSeen, first } = await pair('restart', { timers });
    const aliceSeen = record(alice);
    const restarts: number[] = [];
    alice.on('system:restart', ({ reconnectIn }) => restarts.push(reconnectIn));
    await alice.setPresenceStatus('busy', { desk: 7 });
    const acked: string[] = [];
    const sends: Promise<void>[] = [];
    let n = 0;
    const send = () => {
      const i = n++;
      sends.push(alice.sendMessage('restart', { i }, true).then((id) => void (acked[i] = id)));
    };

    for (let i = 0; i < 10; i++) {
      send();
      await sleep(10);
    }
    let restarted = false;
    const restart = (async () => {
      expect(await server.stop()).toBe(0);
      await server.start();
      restarted = true;
    })();
    // Keep sending during the shutdown, the outage and the reconnect.
    while (!restarted) {
      send();
      await sleep(15);
    }
    await restart;
    for (let i = 0; i < 10; i++) {
      send();
      await sleep(10);
    }
    await Promise.all(sends);
    expect(acked).toHaveLength(n);

    await until(() => bobSeen.messages.length >= n + 1 && bob.lastMessageId('restart') === acked[n - 1], 'every message at bob');
    expect(ids(bobSeen.messages)).toEqual([first, ...acked]);
    expect(bobSeen.messages.map((m) => (m.payload as { i: number }).i)).toEqual([-1, ...Array.from({ length: n }, (_, i) => i)]);
    expect(aliceSeen.states).toContain('reconnecting');
    expect(bobSeen.states).toContain('reconnecting');
    expect(alice.status).toBe('connected');
    // The sender never gets its own messages back through the recovery.
    expect(aliceSeen.messages).toEqual([]);
    // The shutdown announced itself, and the chosen presence status came back with the new connection.
    expect(restarts).toHaveLength(1);
    expect(delays).toContain(restarts[0]);
    const presence = await bob.queryPresence('restart');
    expect(presence.find((p) => p.userId === 'alice')).toMatchObject({ status: 'busy', metadata: { desk: 7 }, connections: 1 });
  });

  it('queues sends while offline and flushes them in order after the reconnect; a full queue refuses with QUEUE_FULL', async () => {
    const { alice, bobSeen, first } = await pair('offline');
    const small = await pool.create(server.url, 'carol', { queue: { maxSize: 2 } });
    await small.joinRoom('offline');
    expect(await server.stop()).toBe(0);
    await until(() => alice.status === 'reconnecting' && small.status === 'reconnecting', 'clients reconnecting');

    const pending = Array.from({ length: 5 }, (_, i) => alice.sendMessage('offline', { offline: i }, true));
    expect(alice.queueSize).toBe(5);
    const a = small.sendMessage('offline', 'a', true);
    const b = small.sendMessage('offline', 'b', true);
    await expect(small.sendMessage('offline', 'c', true)).rejects.toMatchObject({ code: 'QUEUE_FULL' });

    await server.start();
    const sent = await Promise.all(pending);
    await Promise.all([a, b]);
    expect(alice.queueSize).toBe(0);
    expect([...sent].sort()).toEqual(sent);
    await until(() => bobSeen.messages.length === 8, 'the queued messages at bob');
    const fromAlice = bobSeen.messages.filter((m) => m.from === 'alice');
    expect(ids(fromAlice)).toEqual([first, ...sent]);
    expect(bobSeen.messages.filter((m) => m.from === 'carol').map((m) => m.payload)).toEqual(['a', 'b']);
  });

  it('a message whose acknowledgement was lost is sent again with the same clientMessageId and delivered once', async () => {
    let dropNextAck = false;
    const transmitted: string[] = [];
    const factory: SocketFactory = (url, options) => {
      const socket: ClientSocket = io(url, options);
      socket.onAnyOutgoing((event: string, ...args: unknown[]) => {
        if (event === 'room:send') transmitted.push((args[0] as { clientMessageId: string }).clientMessageId);
      });
      // Lose the next acknowledgement on the way in, as if the network dropped right after the server answered.
      const internal = socket as unknown as { onpacket(packet: { type: number }): void };
      const onpacket = internal.onpacket;
      internal.onpacket = function (packet) {
        if (dropNextAck && packet.type === 3) {
          dropNextAck = false;
          socket.io.engine.close();
          return;
        }
        onpacket.call(this, packet);
      };
      return socket;
    };
    const bob = await pool.create(server.url, 'bob');
    const bobSeen = record(bob);
    await bob.joinRoom('dup');
    const alice = await pool.create(server.url, 'alice', { socketFactory: factory });
    const aliceSeen = record(alice);
    await alice.joinRoom('dup');

    dropNextAck = true;
    const id = await alice.sendMessage('dup', 'once', true);
    expect(aliceSeen.states).toEqual(['connected', 'reconnecting', 'connected']);
    expect(transmitted).toHaveLength(2);
    expect(transmitted[0]).toBe(transmitted[1]);
    // A later message is a barrier: anything delivered twice would have arrived before it.
    const later = await alice.sendMessage('dup', 'later', true);
    await until(() => bob.lastMessageId('dup') === later, 'the later message at bob');
    expect(bobSeen.messages.map((m) => [m.id, m.payload])).toEqual([
      [id, 'once'],
      [later, 'later'],
    ]);
  });
});
