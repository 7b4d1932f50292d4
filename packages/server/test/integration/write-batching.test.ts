import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, collect, connect, request, until } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { countWrites, type Tcp } from '../helpers/socket-writes.js';

/** Every patch on, whatever TRANSPORT_TUNING the test run has. */
const TUNED = { TRANSPORT_TUNING: 'on' };

type Emitting = { emit(event: string, ...args: unknown[]): boolean };

describe('socket writes', () => {
  let srv: TestServer | undefined;
  afterEach(async () => {
    closeAll();
    await srv?.close();
    srv = undefined;
  });

  it('packets queued for one connection while a write is in flight go out in one write, in order', async () => {
    srv = await startTestServer(TUNED);
    const { socket, established } = await connect(srv.url);
    const got = collect<number>(socket, 'burst' as 'room:message');
    const server = srv.server.io.of('/').sockets.get(established.connectionId);
    expect(server).toBeDefined();
    const tcp = (server!.conn as unknown as { transport: { socket: { _socket: Tcp } } }).transport.socket._socket;
    const seen = countWrites(tcp);
    // The first packet is written at once; the 49 others wait for it and are sent together.
    for (let i = 0; i < 50; i++) (server as unknown as Emitting).emit('burst', i);
    await until(() => got.length === 50, 5000, '50 packets');
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Without batching this is 50 writes (one per packet).
    expect(seen.writes).toBeLessThanOrEqual(3);
    // Each frame is ws's header and payload: 100 chunks, whatever the number of writes.
    expect(seen.chunks).toBe(100);
    expect(socket.connected).toBe(true);
  });

  it('a member gets a burst of room messages complete and in id order, with acks to the sender', async () => {
    srv = await startTestServer({ ...TUNED, RATE_LIMIT_MESSAGES_PER_SECOND: '0', RATE_LIMIT_USER_MESSAGES_PER_SECOND: '0', RATE_LIMIT_TENANT_MESSAGES_PER_SECOND: '0' });
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    for (const c of [a, b]) await request(c.socket, 'room:join', { room: 'burst' });
    const got = collect<{ id: string; payload: number }>(b.socket, 'room:message');
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => request<{ success: boolean; messageId: string }>(a.socket, 'room:send', { room: 'burst', payload: i })));
    expect(acks.every((x) => x.success)).toBe(true);
    await until(() => got.length === 200, 5000, '200 messages');
    expect(got.map((m) => m.payload)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(got.map((m) => m.id)).toEqual(acks.map((x) => x.messageId));
  });

  it('a room message and an ack each leave as one write; large and multi-byte payloads arrive intact', async () => {
    srv = await startTestServer(TUNED);
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    for (const c of [a, b]) await request(c.socket, 'room:join', { room: 'frames' });
    const tcpOf = (id: string) => {
      const s = srv!.server.io.of('/').sockets.get(id);
      expect(s).toBeDefined();
      return (s!.conn as unknown as { transport: { socket: { _socket: Tcp } } }).transport.socket._socket;
    };
    const toA = countWrites(tcpOf(a.established.connectionId));
    const toB = countWrites(tcpOf(b.established.connectionId));
    const got = collect<{ payload: { text: string } }>(b.socket, 'room:message');

    // A broadcast (to bob) and an ack (to alice), each one frame.
    const ack = await request<{ success: boolean }>(a.socket, 'room:send', { room: 'frames', payload: { text: 'héllo ✓' } });
    expect(ack.success).toBe(true);
    await until(() => got.length === 1, 5000, 'the room message');
    // One packet each, nothing to batch: the broadcast is direct-broadcast's pre-built frame (one
    // chunk); the ack is one writev of ws's frame header and payload.
    expect(toB).toEqual({ writes: 1, chunks: 1 });
    expect(toA).toEqual({ writes: 1, chunks: 2 });

    // A large frame arrives whole too.
    const big = 'ü'.repeat(20_000);
    await request(a.socket, 'room:send', { room: 'frames', payload: { text: big } });
    await until(() => got.length === 2, 5000, 'the large room message');
    expect(got.map((m) => m.payload.text)).toEqual(['héllo ✓', big]);
  });

  it('with per-message deflate on, compressed frames arrive intact', async () => {
    srv = await startTestServer({ ...TUNED, WS_PER_MESSAGE_DEFLATE: 'true' });
    const a = await connect(srv.url, { claims: { sub: 'alice' } });
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    for (const c of [a, b]) await request(c.socket, 'room:join', { room: 'deflate' });
    const server = srv.server.io.of('/').sockets.get(b.established.connectionId);
    const ws = (server!.conn as unknown as { transport: { socket: { _extensions: Record<string, unknown> } } }).transport.socket;
    // The client (ws under socket.io-client) negotiated the extension: frames above its threshold are compressed.
    expect(Object.keys(ws._extensions)).toContain('permessage-deflate');
    const got = collect<{ payload: { text: string } }>(b.socket, 'room:message');
    const texts = ['short ✓', 'ab'.repeat(600), 'é'.repeat(30_000)];
    for (const text of texts) {
      const ack = await request<{ success: boolean }>(a.socket, 'room:send', { room: 'deflate', payload: { text } });
      expect(ack.success).toBe(true);
    }
    await until(() => got.length === texts.length, 5000, 'the room messages');
    expect(got.map((m) => m.payload.text)).toEqual(texts);
  });
});

describe('socket writes of a server with the patches off, next to one with them on', () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    closeAll();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('the untuned server writes as Socket.IO does (one write per packet); the tuned one batches', async () => {
    const tuned = await startTestServer(TUNED);
    const plain = await startTestServer({ TRANSPORT_TUNING: 'off' });
    servers.push(tuned, plain);
    expect(plain.server.transportTuning).toEqual([]);
    const burst = async (srv: TestServer) => {
      const { socket, established } = await connect(srv.url);
      const got = collect<number>(socket, 'burst' as 'room:message');
      const server = srv.server.io.of('/').sockets.get(established.connectionId)!;
      const tcp = (server.conn as unknown as { transport: { socket: { _socket: Tcp } } }).transport.socket._socket;
      const seen = countWrites(tcp);
      for (let i = 0; i < 50; i++) (server as unknown as Emitting).emit('burst', i);
      await until(() => got.length === 50, 5000, '50 packets');
      expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
      return seen;
    };
    // Both servers in one process: the class-level wrappers act for the tuned server's connections only.
    const a = await burst(tuned);
    const b = await burst(plain);
    const c = await burst(tuned);
    // 50 frames of two chunks each, in about one write per packet (50 when every write completes at once).
    expect(b.chunks).toBe(100);
    expect(b.writes).toBeGreaterThan(10);
    for (const seen of [a, c]) {
      expect(seen.writes).toBeLessThanOrEqual(3);
      expect(seen.chunks).toBe(100);
    }
  });
});
