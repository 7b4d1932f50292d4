import { RedisAdapter } from '@socket.io/redis-adapter';
import { Adapter } from 'socket.io-adapter';
import type { Server as HttpServer } from 'node:http';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { directBroadcast, directStats, textFrame } from '../../src/transport-tuning/direct-broadcast.js';
import { closeAll, collect, connect, request, until } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { mintToken } from '../helpers/tokens.js';
import { countWrites, type Tcp } from '../helpers/socket-writes.js';

type ServerSocket = { emit(event: string, ...args: unknown[]): boolean; conn: unknown; join(room: string): void };

function serverSocket(srv: TestServer, id: string): ServerSocket {
  const s = srv.server.io.of('/').sockets.get(id);
  expect(s).toBeDefined();
  return s as unknown as ServerSocket;
}
const tcpOf = (s: ServerSocket) => (s.conn as { transport: { socket: { _socket: Tcp } } }).transport.socket._socket;
const transportOf = (s: ServerSocket) => (s.conn as { transport: { name: string; writable: boolean } }).transport;
const roomOf = (room: string) => `acme#${room}`;

/** Records every event the client gets, in order, as `event:value`. */
function record(socket: unknown): string[] {
  const seen: string[] = [];
  (socket as ClientSocket).onAny((event: string, value: unknown) => seen.push(`${event}:${typeof value === 'object' ? JSON.stringify(value) : String(value)}`));
  return seen;
}

const snapshot = () => ({ ...directStats });

describe('direct broadcast', () => {
  let srv: TestServer | undefined;
  afterEach(async () => {
    closeAll();
    await srv?.close();
    srv = undefined;
  });

  it('applies to the installed versions, and builds the same frame as RFC 6455 at each length encoding', () => {
    expect(directBroadcast.check()).toBeUndefined();
    for (const n of [0, 125, 126, 65_535, 65_536]) {
      const text = 'é'.repeat(Math.floor(n / 2)) + 'a'.repeat(n % 2);
      const frame = textFrame(text);
      const bytes = Buffer.byteLength(text);
      expect(frame[0]).toBe(0x81);
      const [len, header] = bytes < 126 ? [frame[1], 2] : bytes < 65_536 ? [frame.readUInt16BE(2), 4] : [Number(frame.readBigUInt64BE(2)), 10];
      expect(frame[1]! & 0x80).toBe(0); // unmasked
      expect(len).toBe(bytes);
      expect(frame.subarray(header).toString('utf8')).toBe(text);
    }
  });

  it('writes room messages straight to WebSocket members, a turn of them in one write, in order', async () => {
    srv = await startTestServer();
    expect(srv.server.transportTuning).toContain('direct-broadcast');
    expect(srv.server.io.of('/').adapter).toBeInstanceOf(Adapter);
    expect(Object.getPrototypeOf(srv.server.io.of('/').adapter)).not.toBe(Adapter.prototype);
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    for (const c of [a, b]) await request(c.socket, 'room:join', { room: 'direct' });
    const got = collect<{ payload: number }>(b.socket, 'room:message');
    const before = snapshot();
    const ack = await request<{ success: boolean }>(a.socket, 'room:send', { room: 'direct', payload: -1 });
    expect(ack.success).toBe(true);
    await until(() => got.length === 1, 5000, 'the room message');
    // bob only: the sender is excluded.
    expect(directStats.direct - before.direct).toBe(1);
    expect(directStats.engine - before.engine).toBe(0);

    // 100 broadcasts in one turn: one frame each, written to bob's socket in one writev at the end of the turn.
    const seen = countWrites(tcpOf(serverSocket(srv, b.established.connectionId)));
    const io = srv.server.io;
    for (let i = 0; i < 100; i++) io.local.to(roomOf('direct')).emit('room:message', { payload: i } as never);
    await until(() => got.length === 101, 5000, '100 more messages');
    expect(got.map((m) => m.payload)).toEqual([-1, ...Array.from({ length: 100 }, (_, i) => i)]);
    expect(seen.writes).toBe(1);
    expect(seen.chunks).toBe(100);
  });

  it("follows the room's membership between broadcasts: joins, leaves and disconnects, the sender still left out", async () => {
    srv = await startTestServer();
    const [a, b, c] = await Promise.all(['alice', 'bob', 'carol'].map((sub) => connect(srv!.url, { claims: { sub } })));
    const got = { a: collect<{ payload: number }>(a!.socket, 'room:message'), b: collect<{ payload: number }>(b!.socket, 'room:message'), c: collect<{ payload: number }>(c!.socket, 'room:message') };
    const payloads = (k: keyof typeof got) => got[k].map((m) => m.payload);
    const send = async (from: typeof a, payload: number) => {
      expect(await request(from!.socket, 'room:send', { room: 'members', payload })).toMatchObject({ success: true });
    };
    for (const x of [a, b]) await request(x!.socket, 'room:join', { room: 'members' });
    await send(a, 1);
    await until(() => got.b.length === 1, 5000, 'message 1');
    // carol joins after the room's member list was built: she gets the next message.
    await request(c!.socket, 'room:join', { room: 'members' });
    await send(a, 2);
    await until(() => got.b.length === 2 && got.c.length === 1, 5000, 'message 2');
    // bob leaves: he gets nothing more.
    await request(b!.socket, 'room:leave', { room: 'members' });
    await send(c, 3);
    await until(() => got.a.length === 1, 5000, 'message 3');
    // alice disconnects and bob joins again: the list drops the one and takes the other back.
    a!.socket.disconnect();
    await until(() => srv!.server.io.of('/').sockets.size === 2, 5000, "alice's disconnect");
    await request(b!.socket, 'room:join', { room: 'members' });
    await send(c, 4);
    await until(() => got.b.length === 3, 5000, 'message 4');
    await send(b, 5);
    await until(() => got.c.length === 2, 5000, 'message 5');
    expect(payloads('a')).toEqual([3]);
    expect(payloads('b')).toEqual([1, 2, 4]);
    expect(payloads('c')).toEqual([2, 5]);
  });

  it("keeps a connection's own packets and broadcasts in the order they were emitted, whichever path each takes", async () => {
    srv = await startTestServer();
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    await request(b.socket, 'room:join', { room: 'order' });
    const seen = record(b.socket);
    const bob = serverSocket(srv, b.established.connectionId);
    const io = srv.server.io;
    const before = snapshot();
    const expected: string[] = [];
    // Alternating in one turn: the first own packet is written at once (its write then in flight, nothing pending), the
    // next ones wait in Engine.IO's buffer, so every broadcast after them must wait there too.
    for (let i = 0; i < 60; i++) {
      if (i % 3 === 2) {
        bob.emit('own', i);
        expected.push(`own:${i}`);
      } else {
        io.local.to(roomOf('order')).emit('room:message', { payload: i } as never);
        expected.push(`room:message:${JSON.stringify({ payload: i })}`);
      }
    }
    await until(() => seen.length >= expected.length, 5000, 'every packet');
    expect(seen).toEqual(expected);
    // Both paths were taken: direct until the second own packet (0, 1, 3, 4), Engine.IO's once packets were pending.
    expect(directStats.direct - before.direct).toBe(4);
    expect(directStats.engine - before.engine).toBe(36);

    // A write in flight with nothing pending: the broadcast goes direct, after it; a volatile one is dropped, as
    // Socket.IO drops volatile packets while the transport is not writable.
    seen.length = 0;
    bob.emit('own', 'first');
    expect(transportOf(bob).writable).toBe(false);
    io.local.volatile.to(roomOf('order')).emit('room:message', { payload: 'volatile-dropped' } as never);
    io.local.to(roomOf('order')).emit('room:message', { payload: 'after' } as never);
    bob.emit('own', 'last');
    await until(() => seen.length >= 3, 5000, 'three packets');
    // Once the transport is writable again, a volatile broadcast is delivered.
    await until(() => transportOf(bob).writable, 5000, 'writable');
    io.local.volatile.to(roomOf('order')).emit('room:message', { payload: 'volatile-delivered' } as never);
    await until(() => seen.length >= 4, 5000, 'the volatile packet');
    expect(seen).toEqual(['own:first', 'room:message:{"payload":"after"}', 'own:last', 'room:message:{"payload":"volatile-delivered"}']);
  });

  it('acks and room messages to one connection stay in order under a burst of sends from several members', async () => {
    srv = await startTestServer({ RATE_LIMIT_MESSAGES_PER_SECOND: '0', RATE_LIMIT_USER_MESSAGES_PER_SECOND: '0', RATE_LIMIT_TENANT_MESSAGES_PER_SECOND: '0' });
    const members = await Promise.all(['alice', 'bob', 'carol'].map((sub) => connect(srv!.url, { claims: { sub } })));
    for (const m of members) await request(m.socket, 'room:join', { room: 'burst' });
    const logs = members.map((m) => record(m.socket));
    const acks = await Promise.all(
      Array.from({ length: 150 }, (_, i) => request<{ success: boolean; messageId: string }>(members[i % 3]!.socket, 'room:send', { room: 'burst', payload: i })),
    );
    expect(acks.every((x) => x.success)).toBe(true);
    // Ids are assigned in the order the server took the sends: "<sequence>-<suffix>".
    const seq = (id: string) => BigInt(id.slice(0, id.indexOf('-')));
    const sent = acks.map((x, i) => ({ id: x.messageId, from: i % 3 })).sort((x, y) => (seq(x.id) < seq(y.id) ? -1 : 1));
    await until(() => logs.every((l) => l.filter((e) => e.startsWith('room:message:')).length === 100), 10_000, 'every message');
    for (const [k, log] of logs.entries()) {
      const got = log.filter((e) => e.startsWith('room:message:')).map((e) => (JSON.parse(e.slice('room:message:'.length)) as { id: string }).id);
      // Every member gets the others' messages in id order (its own are excluded).
      expect(got).toEqual(sent.filter((x) => x.from !== k).map((x) => x.id));
    }
  });

  it('long-polling members take Engine.IO path and get every message in order', async () => {
    srv = await startTestServer();
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const p = await connect(srv.url, { claims: { sub: 'paul' }, transports: ['polling'] });
    for (const c of [a, p]) await request(c.socket, 'room:join', { room: 'poll' });
    expect(transportOf(serverSocket(srv, p.established.connectionId)).name).toBe('polling');
    const got = collect<{ payload: number }>(p.socket, 'room:message');
    const before = snapshot();
    for (let i = 0; i < 30; i++) await request(a.socket, 'room:send', { room: 'poll', payload: i });
    await until(() => got.length === 30, 10_000, '30 messages');
    expect(got.map((m) => m.payload)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(directStats.direct - before.direct).toBe(0);
    expect(directStats.engine - before.engine).toBe(30);
  });

  it('a connection upgrading from long-polling to WebSocket mid-stream gets every broadcast once, in order', async () => {
    srv = await startTestServer();
    const io = srv.server.io;
    // The WebSocket upgrade request is held back 300 ms, so that it lands in the middle of the stream.
    const http = (io as unknown as { httpServer: HttpServer }).httpServer;
    const upgrade = http.listeners('upgrade') as ((...a: unknown[]) => void)[];
    http.removeAllListeners('upgrade');
    http.on('upgrade', (...args: unknown[]) => setTimeout(() => upgrade.forEach((l) => l.apply(http, args)), 300));
    const transports: string[] = [];
    const total = 400;
    let stream: Promise<void> | undefined;
    io.on('connection', (socket) => {
      const s = socket as unknown as ServerSocket;
      s.join('upgrade-stream');
      stream = (async () => {
        for (let i = 0; i < total; i++) {
          transports.push(transportOf(s).name);
          io.local.to('upgrade-stream').emit('room:message', { payload: i } as never);
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
    });
    const before = snapshot();
    const u = ioClient(srv.url, { transports: ['polling', 'websocket'], reconnection: false, forceNew: true, autoConnect: false, auth: { token: await mintToken({ sub: 'ursula', tenantId: 'acme' }) } });
    const got: number[] = [];
    u.on('room:message', (m: { payload: number }) => got.push(m.payload));
    u.connect();
    try {
      await until(() => stream !== undefined, 10_000, 'the stream');
      await stream;
      await until(() => got.length >= total, 10_000, 'every broadcast');
      // The upgrade happened during the stream: both transports carried part of it.
      expect(transports[0]).toBe('polling');
      expect(transports.at(-1)).toBe('websocket');
      expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(directStats.direct - before.direct).toBeGreaterThan(0);
      expect(directStats.engine - before.engine).toBeGreaterThan(0);
    } finally {
      u.disconnect();
    }
  });

  it("sends a new connection's 101 answer with its open packet in one write, and its CONNECT answer with connection:established in one more", async () => {
    for (const tuning of ['on', 'write-batching,handshake-release,listener-compaction']) {
      srv = await startTestServer({ TRANSPORT_TUNING: tuning });
      const server = srv;
      // The TCP socket of the next connection, its writes counted from the first.
      const writes = new Promise<{ writes: number; chunks: number }>((resolve) => server.server.http.once('connection', (tcp: Tcp) => resolve(countWrites(tcp))));
      const token = await mintToken({ sub: 'alice', tenantId: 'acme' });
      const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
      const frames: string[] = [];
      const established = new Promise<void>((resolve, reject) => {
        ws.on('message', (data) => {
          const text = data.toString();
          frames.push(text);
          if (text.startsWith('0')) ws.send(`40${JSON.stringify({ token })}`);
          else if (text.startsWith('42["connection:established"')) resolve();
          else if (text.startsWith('44')) reject(new Error(text));
        });
        ws.once('error', reject);
      });
      const seen = await writes;
      await established;
      expect(frames.map((f) => f.slice(0, 2))).toEqual(['0{', '40', '42']);
      // The 101 answer with the open packet is the first write.
      // The 101 answer with the open packet in one write (the gate corks the upgrade's turn), then the CONNECT
      // answer with connection:established in one more (direct-broadcast), or in two without it.
      expect(seen.writes).toBe(tuning === 'on' ? 2 : 3);
      ws.terminate();
      await srv.close();
      srv = undefined;
    }
  });

  it('TRANSPORT_TUNING without direct-broadcast leaves every delivery to Socket.IO', async () => {
    srv = await startTestServer({ TRANSPORT_TUNING: 'write-batching,handshake-release,listener-compaction' });
    expect(Object.getPrototypeOf(srv.server.io.of('/').adapter)).toBe(Adapter.prototype);
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    for (const c of [a, b]) await request(c.socket, 'room:join', { room: 'off' });
    const got = collect<{ payload: number }>(b.socket, 'room:message');
    const before = snapshot();
    for (let i = 0; i < 5; i++) await request(a.socket, 'room:send', { room: 'off', payload: i });
    await until(() => got.length === 5, 5000, 'five messages');
    expect(got.map((m) => m.payload)).toEqual([0, 1, 2, 3, 4]);
    expect(directStats).toEqual(before);
  });
});

describe('direct broadcast on the Redis adapter', () => {
  let redis: RedisServer;
  const servers: TestServer[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterEach(async () => {
    closeAll();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("delivers another instance's room messages directly, in id order, and the adapter still publishes", async () => {
    const [one, two] = await Promise.all([0, 1].map(() => startTestServer({ REDIS_URL: redis.url })));
    servers.push(one!, two!);
    for (const s of servers) expect(s.server.io.of('/').adapter).toBeInstanceOf(RedisAdapter);
    const a = await connect(one!.url, { claims: { sub: 'alice' } });
    const b = await connect(two!.url, { claims: { sub: 'bob' } });
    for (const c of [a, b]) await request(c.socket, 'room:join', { room: 'cross' });
    const got = collect<{ id: string; payload: number }>(b.socket, 'room:message');
    const before = snapshot();
    const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => request<{ success: boolean; messageId: string }>(a.socket, 'room:send', { room: 'cross', payload: i })));
    await until(() => got.length === 50, 10_000, '50 messages on the other instance');
    expect(got.map((m) => m.id)).toEqual(acks.map((x) => x.messageId));
    expect(directStats.direct - before.direct).toBe(50);

    // A broadcast to every instance (not local) still goes through Redis to the other instance.
    const other = collect<{ payload: string }>(b.socket, 'cluster-wide');
    one!.server.io.to(roomOf('cross')).emit('cluster-wide' as 'room:message', { payload: 'everywhere' } as never);
    await until(() => other.length === 1, 10_000, 'the broadcast through Redis');
  });
});
