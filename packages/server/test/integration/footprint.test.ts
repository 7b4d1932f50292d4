import { EventEmitter } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compactListeners } from '../../src/transport-tuning/listener-compaction.js';
import type { IoSocket } from '../../src/realtime/context.js';
import { closeAll, connect, next, request, until } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

/** Every patch on, whatever TRANSPORT_TUNING the test run has. */
const TUNED = { TRANSPORT_TUNING: 'on' };

type Listeners = Record<string | symbol, unknown>;
const eventsOf = (e: unknown) => (e as { _events: Listeners })._events;

// V8's own answer to "is this object stored compactly (not as a hash table)?".
setFlagsFromString('--allow-natives-syntax');
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

describe('compactListeners', () => {
  it('keeps every listener, once semantics, symbols and a null prototype', () => {
    const e = new EventEmitter();
    const calls: string[] = [];
    const sym = Symbol('s');
    const a = () => calls.push('a');
    e.on('a', a);
    e.on('a', () => calls.push('a2'));
    e.once('b', () => calls.push('b'));
    e.on(sym, () => calls.push('sym'));
    e.on('error', () => calls.push('error'));
    const before = e.eventNames();
    expect(hasFastProperties(eventsOf(e))).toBe(false);
    compactListeners(e);
    expect(hasFastProperties(eventsOf(e))).toBe(true);
    expect(Object.getPrototypeOf(eventsOf(e))).toBeNull();
    expect(e.eventNames()).toEqual(before);
    expect(e.emit('a')).toBe(true);
    expect(e.emit('b')).toBe(true);
    expect(e.emit('b')).toBe(false);
    expect(e.emit(sym)).toBe(true);
    expect(e.emit('error', new Error('x'))).toBe(true);
    // Nothing is inherited: Object.prototype's names are not events.
    expect(e.emit('toString')).toBe(false);
    expect(e.listenerCount('hasOwnProperty')).toBe(0);
    e.removeListener('a', a);
    e.on('c', () => calls.push('c'));
    e.emit('a');
    e.emit('c');
    expect(calls).toEqual(['a', 'a2', 'b', 'sym', 'error', 'a2', 'c']);
    expect(e.listenerCount('a')).toBe(1);
    e.removeAllListeners();
    expect(e.eventNames()).toEqual([]);
  });

  it('leaves emitters it does not recognise alone', () => {
    expect(() => compactListeners(undefined)).not.toThrow();
    expect(() => compactListeners(null)).not.toThrow();
    const plain = { _events: { x: 1 } };
    compactListeners(plain);
    // An ordinary object (not Node's null-prototype store) is not touched.
    expect(Object.getPrototypeOf(plain._events)).toBe(Object.prototype);
  });
});

describe('what an established connection keeps', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ ...TUNED, MAX_MESSAGE_BYTES: '500000' });
  });
  afterAll(async () => srv.close());
  afterEach(() => closeAll());

  const serverSocket = async (): Promise<IoSocket> => {
    await until(() => srv.server.io.of('/').sockets.size === 1);
    return [...srv.server.io.of('/').sockets.values()][0]!;
  };

  it('keeps no request or token of the handshake, and compact listener stores', async () => {
    const { socket } = await connect(srv.url, { claims: { sub: 'alice' }, extraHeaders: { cookie: 'session=secret' } });
    const s = await serverSocket();
    const conn = s.conn as unknown as {
      request: unknown;
      transport: { name: string; socket: object };
    };
    expect(conn.request).toBeNull();
    expect(s.handshake.headers).toEqual({});
    expect(s.handshake.auth).toEqual({});
    expect(conn.transport.name).toBe('websocket');
    // (Node's streams, the TCP socket and ws's receiver, pre-shape theirs as ordinary objects already.)
    const emitters = { socket: s, conn: s.conn, transport: conn.transport, ws: conn.transport.socket };
    for (const [name, e] of Object.entries(emitters)) {
      const events = eventsOf(e);
      expect(Object.getPrototypeOf(events), name).toBeNull();
      expect(hasFastProperties(events), name).toBe(true);
      expect(Reflect.ownKeys(events).length).toBeGreaterThan(0);
    }
    // The connection works both ways afterwards, including frames split over many TCP reads.
    const bob = await connect(srv.url, { claims: { sub: 'bob' } });
    expect(await request(socket, 'room:join', { room: 'r' })).toMatchObject({ success: true });
    expect(await request(bob.socket, 'room:join', { room: 'r' })).toMatchObject({ success: true });
    const big = 'x'.repeat(200_000);
    const toBob = next(bob.socket, 'room:message');
    expect(await request(socket, 'room:send', { room: 'r', payload: { text: big } })).toMatchObject({ success: true });
    expect(((await toBob) as { payload: { text: string } }).payload.text).toBe(big);
    const toAlice = next(socket, 'room:message');
    expect(await request(bob.socket, 'room:send', { room: 'r', payload: { text: big } })).toMatchObject({ success: true });
    expect(((await toAlice) as { payload: { text: string } }).payload.text).toBe(big);
  });

  it('keeps working for a client that starts on polling and upgrades to WebSocket', async () => {
    const a = await connect(srv.url, { claims: { sub: 'alice' }, transports: ['polling', 'websocket'] });
    const s = await serverSocket();
    await until(() => a.socket.io.engine.transport.name === 'websocket' && s.conn.transport.name === 'websocket', 5000, 'the upgrade');
    const b = await connect(srv.url, { claims: { sub: 'bob' } });
    expect(await request(a.socket, 'room:join', { room: 'up' })).toMatchObject({ success: true });
    expect(await request(b.socket, 'room:join', { room: 'up' })).toMatchObject({ success: true });
    const toA = next(a.socket, 'room:message');
    await request(b.socket, 'room:send', { room: 'up', payload: 'to a' });
    expect(await toA).toMatchObject({ payload: 'to a' });
    const toB = next(b.socket, 'room:message');
    await request(a.socket, 'room:send', { room: 'up', payload: 'to b' });
    expect(await toB).toMatchObject({ payload: 'to b' });
    const reason = new Promise<string>((resolve) => s.on('disconnect', resolve));
    a.socket.disconnect();
    expect(await reason).toBe('client namespace disconnect');
  });

  it('still hears a client leave, cleanly or by a dropped TCP connection', async () => {
    const clean = await connect(srv.url, { claims: { sub: 'alice' } });
    const s1 = await serverSocket();
    const reason1 = new Promise<string>((resolve) => s1.on('disconnect', resolve));
    clean.socket.disconnect();
    expect(await reason1).toBe('client namespace disconnect');

    const dropped = await connect(srv.url, { claims: { sub: 'bob' } });
    const s2 = await serverSocket();
    const reason2 = new Promise<string>((resolve) => s2.on('disconnect', resolve));
    (dropped.socket.io.engine.transport as unknown as { ws: { terminate(): void } }).ws.terminate();
    expect(await reason2).toBe('transport close');
    await until(() => srv.server.io.of('/').sockets.size === 0);
  });

  it('is disconnected by the server as before', async () => {
    const { socket } = await connect(srv.url, { claims: { sub: 'carol' } });
    const s = await serverSocket();
    const gone = next(socket, 'disconnect');
    s.disconnect(true);
    expect(await gone).toBe('io server disconnect');
  });
});
