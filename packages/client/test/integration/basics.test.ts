import type { PresenceJoin, PresenceUpdate } from '@intelgraph/websocket-protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import { io } from 'socket.io-client';
import { WebSocketClientError, type ConnectionState, type SocketFactory } from '../../src/index.js';
import { ClientPool, nextEvent, record, until } from '../helpers/harness.js';

let server: ServerProcess;
const pool = new ClientPool();

beforeAll(async () => {
  server = await startServerProcess({ HEARTBEAT_INTERVAL: '300', HEARTBEAT_TIMEOUT: '10000' });
});
afterAll(async () => {
  await server?.stop();
});
afterEach(() => pool.closeAll());

describe('two SDK clients on one server', () => {
  it('join, send and receive, with presence and queries', async () => {
    const alice = await pool.create(server.url, 'alice', { autoConnect: false });
    const bob = await pool.create(server.url, 'bob');
    const aliceStates: ConnectionState[] = [];
    alice.on('status:change', (s, change) => {
      aliceStates.push(s);
      expect(change.newState).toBe(s);
    });
    const establishedEvent = nextEvent(alice, 'connection:established');
    const connected = alice.connect();
    const [established] = await establishedEvent;
    await connected;
    expect(established).toMatchObject({ tenantId: 'acme', userId: 'alice' });
    expect(alice.connectionInfo?.connectionId).toBe(established.connectionId);

    const bobSeen = record(bob);
    const joined = await bob.joinRoom('chat', { role: 'reader' });
    expect(joined).toEqual({ room: 'chat' });
    const presenceJoin = nextEvent(bob, 'presence:join');
    await alice.joinRoom('chat');
    const [pj] = (await presenceJoin) as [PresenceJoin];
    expect(pj.room).toBe('chat');
    expect(pj.user).toMatchObject({ userId: 'alice', status: 'online', connections: 1 });
    expect(aliceStates).toEqual(['connecting', 'connected']);
    expect(alice.status).toBe('connected');

    const id1 = await alice.sendMessage('chat', { text: 'hello' });
    const id2 = await alice.sendMessage('chat', { text: 'stored' }, true);
    expect(typeof id1).toBe('string');
    expect(id2 > id1).toBe(true);
    await until(() => bobSeen.messages.length === 2, 'two messages at bob');
    expect(bobSeen.messages.map((m) => [m.id, m.from, m.payload])).toEqual([
      [id1, 'alice', { text: 'hello' }],
      [id2, 'alice', { text: 'stored' }],
    ]);
    expect(bob.lastMessageId('chat')).toBe(id2);

    const presence = await alice.queryPresence('chat');
    expect(presence.map((p) => p.userId).sort()).toEqual(['alice', 'bob']);
    expect(await alice.queryRooms()).toEqual(['chat']);
    const history = await alice.getHistory('chat', { limit: 10 });
    expect(history.messages.map((m) => m.id)).toEqual([id2]);
    expect(history.hasMore).toBe(false);

    const update = nextEvent(bob, 'presence:update');
    await alice.setPresenceStatus('busy', { activity: 'typing' });
    const [pu] = (await update) as [PresenceUpdate];
    expect(pu.presence).toEqual([expect.objectContaining({ userId: 'alice', status: 'busy' })]);

    const left = nextEvent(bob, 'presence:leave');
    const roomLeft = nextEvent(alice, 'room:left');
    await alice.leaveRoom('chat');
    expect((await left)[0]).toEqual({ room: 'chat', userId: 'alice' });
    expect((await roomLeft)[0]).toEqual({ room: 'chat' });
    expect(alice.joinedRooms).toEqual([]);
  });

  it('rejects refused requests with the protocol code', async () => {
    const alice = await pool.create(server.url, 'alice');
    await alice.connect();
    await expect(alice.sendMessage('elsewhere', 1)).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });
    await expect(alice.joinRoom('bad room!')).rejects.toMatchObject({ code: 'INVALID_ROOM' });
    await alice.joinRoom('big');
    const err = await alice.sendMessage('big', 'x'.repeat(70_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebSocketClientError);
    expect(err).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', room: 'big' });
    // The client is still usable after a refusal.
    expect(typeof (await alice.sendMessage('big', 'small'))).toBe('string');
    await expect(alice.queryPresence('nope!')).rejects.toMatchObject({ code: expect.stringMatching(/INVALID_ROOM|INVALID_PAYLOAD/) });
  });

  it('a room the token does not allow is refused with FORBIDDEN', async () => {
    const { token } = await import('../helpers/harness.js');
    const carol = await pool.create(server.url, 'carol', { token: await token('carol', { rooms: ['team:*'] }) });
    await expect(carol.joinRoom('team:1')).resolves.toEqual({ room: 'team:1' });
    await expect(carol.joinRoom('other')).rejects.toMatchObject({ code: 'FORBIDDEN', room: 'other' });
    expect(carol.joinedRooms).toEqual(['team:1']);
  });

  it('queries need a connection; disconnect() rejects what is pending', async () => {
    const alice = await pool.create(server.url, 'alice', { autoConnect: false });
    await expect(alice.queryRooms()).rejects.toMatchObject({ code: 'NOT_CONNECTED' });
    const join = alice.joinRoom('later');
    const send = alice.sendMessage('later', 'queued before connecting');
    expect(alice.queueSize).toBe(1);
    alice.disconnect();
    await expect(join).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    await expect(send).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    expect(alice.status).toBe('disconnected');
  });

  it('sends presence heartbeats at the server-given interval while connected', async () => {
    const heartbeats: number[] = [];
    const factory: SocketFactory = (url, options) => {
      const socket = io(url, options);
      socket.onAnyOutgoing((event: string) => event === 'presence:heartbeat' && heartbeats.push(Date.now()));
      return socket;
    };
    const alice = await pool.create(server.url, 'alice', { socketFactory: factory });
    const [established] = await nextEvent(alice, 'connection:established');
    expect(established.heartbeatInterval).toBe(300);
    await until(() => heartbeats.length >= 3, 'three heartbeats');
    alice.disconnect();
    const count = heartbeats.length;
    await new Promise((r) => setTimeout(r, 700));
    expect(heartbeats.length).toBe(count);
  });

  it('a send whose acknowledgement never comes is sent again with the same clientMessageId, and delivered once', async () => {
    let dropNextAck = false;
    const transmitted: string[] = [];
    const factory: SocketFactory = (url, options) => {
      const socket = io(url, options);
      socket.onAnyOutgoing((event: string, ...args: unknown[]) => {
        if (event === 'room:send') transmitted.push((args[0] as { clientMessageId: string }).clientMessageId);
      });
      // Swallow the next acknowledgement: the connection stays up, the answer is just never seen.
      const internal = socket as unknown as { onpacket(packet: { type: number }): void };
      const onpacket = internal.onpacket;
      internal.onpacket = function (packet) {
        if (dropNextAck && packet.type === 3) {
          dropNextAck = false;
          return;
        }
        onpacket.call(this, packet);
      };
      return socket;
    };
    const bob = await pool.create(server.url, 'bob');
    const bobSeen = record(bob);
    await bob.joinRoom('timeouts');
    const alice = await pool.create(server.url, 'alice', { socketFactory: factory, ackTimeoutMs: 500, heartbeatIntervalMs: 0 });
    const aliceSeen = record(alice);
    await alice.joinRoom('timeouts');
    dropNextAck = true;
    const id = await alice.sendMessage('timeouts', 'once');
    expect(transmitted).toHaveLength(2);
    expect(transmitted[0]).toBe(transmitted[1]);
    expect(aliceSeen.states).toEqual(['connected']);
    const later = await alice.sendMessage('timeouts', 'later');
    await until(() => bob.lastMessageId('timeouts') === later, 'the later message');
    expect(bobSeen.messages.map((m) => [m.id, m.payload])).toEqual([
      [id, 'once'],
      [later, 'later'],
    ]);
  });
});
