import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TRANSPORT_PATCH_NAMES } from '../../src/config.js';
import type { IoSocket } from '../../src/realtime/context.js';
import { TRANSPORT_PATCHES } from '../../src/transport-tuning/index.js';
import { locate, versionMismatch, WRITTEN_FOR } from '../../src/transport-tuning/installed.js';
import { removeResponseCloseListener, removeUpgradeErrorListener, UPGRADE_ERROR_LISTENER } from '../../src/transport-tuning/handshake-release.js';
import { closeAll, connect, request, until } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

// A full garbage collection on demand, to tell whether an object is still referenced.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
setFlagsFromString('--allow-natives-syntax');
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

const root = new URL('../../../../', import.meta.url);
const json = (path: string) => JSON.parse(readFileSync(new URL(path, root), 'utf8')) as Record<string, Record<string, unknown>>;

interface Internals {
  request: IncomingMessage | null;
  transport: {
    name: string;
    listenerCount(ev: string): number;
    socket: NodeJS.EventEmitter;
  };
}
const internals = (s: IoSocket) => s.conn as unknown as Internals;

/** Collects until `ref` is gone, or gives up after a few rounds (then it is still referenced). */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await new Promise((r) => setTimeout(r, 20));
    gc();
  }
  return ref.deref() === undefined;
}

describe('the patches and the installed modules', () => {
  it.each(TRANSPORT_PATCHES.map((p) => [p.name, p] as const))('%s applies to the installed versions and shapes', (_name, patch) => {
    expect(patch.check()).toBeUndefined();
  });

  it('covers every name TRANSPORT_TUNING accepts, in the same order', () => {
    expect(TRANSPORT_PATCHES.map((p) => p.name)).toEqual([...TRANSPORT_PATCH_NAMES]);
  });

  it('package.json pins exactly the versions the patches were written for', () => {
    const server = json('packages/server/package.json');
    expect(server.dependencies!['socket.io']).toBe(WRITTEN_FOR['socket.io']);
    expect(server.dependencies!['engine.io']).toBe(WRITTEN_FOR['engine.io']);
    const overrides = json('package.json').overrides as Record<string, Record<string, string>>;
    expect(overrides).toEqual({ 'engine.io': { ws: WRITTEN_FOR.ws } });
  });

  it('looks at the copy each library uses, and names a copy of another version', () => {
    expect(locate(['engine.io', 'ws'])?.version).toBe(WRITTEN_FOR.ws);
    expect(locate(['socket.io', 'engine.io'])?.version).toBe(WRITTEN_FOR['engine.io']);
    // socket.io-adapter's own copy of ws (an older one, which the server does not run on) is named as another version.
    const other = locate(['socket.io-adapter', 'ws'])!.version;
    expect(other).not.toBe(WRITTEN_FOR.ws);
    expect(versionMismatch(['socket.io-adapter', 'ws'], 'ws')).toBe(`socket.io-adapter > ws is ${other}, written for ${WRITTEN_FOR.ws}`);
    expect(versionMismatch(['no-such-package'], 'ws')).toBe('no-such-package is not installed');
  });
});

describe('what the connection patches rely on, on a live connection', () => {
  let srv: TestServer | undefined;
  afterEach(async () => {
    closeAll();
    await srv?.close();
    srv = undefined;
  });

  const onlySocket = async (): Promise<IoSocket> => {
    await until(() => srv!.server.io.of('/').sockets.size === 1);
    return [...srv!.server.io.of('/').sockets.values()][0]!;
  };

  it('untuned, an established connection keeps what the patches drop: they have work to do', async () => {
    srv = await startTestServer({ TRANSPORT_TUNING: 'off' });
    expect(srv.server.transportTuning).toEqual([]);
    await connect(srv.url, { extraHeaders: { cookie: 'session=secret' } });
    const s = await onlySocket();
    const conn = internals(s);
    // handshake-release: the request, the handshake's token and headers, and three leftover listeners.
    expect(conn.request).not.toBeNull();
    expect(s.handshake.headers.cookie).toBe('session=secret');
    expect(s.handshake.auth).toHaveProperty('token');
    expect(conn.transport.listenerCount('headers')).toBe(1);
    const ws = conn.transport.socket;
    expect(ws.listeners('error').map((l) => l.name)).toContain(UPGRADE_ERROR_LISTENER);
    // listener-compaction: the stores are hash tables.
    for (const e of [s, s.conn, conn.transport, ws]) expect(hasFastProperties((e as unknown as { _events: object })._events)).toBe(false);

    // The two removals by name find exactly the listener each is meant for.
    const tcp = conn.request!.socket;
    const closeListeners = tcp.listenerCount('close');
    expect(removeResponseCloseListener(tcp)).toBe(1);
    expect(tcp.listenerCount('close')).toBe(closeListeners - 1);
    const errorListeners = ws.listenerCount('error');
    expect(removeUpgradeErrorListener(ws)).toBe(1);
    expect(ws.listenerCount('error')).toBe(errorListeners - 1);
    expect(ws.listenerCount('error')).toBeGreaterThan(0);
  });

  it("the request is freed only once both conn.request and the upgrade response's close listener are gone", async () => {
    srv = await startTestServer({ TRANSPORT_TUNING: 'off' });
    await connect(srv.url);
    const s = await onlySocket();
    const conn = internals(s);
    const tcp = conn.request!.socket;
    const ref = new WeakRef(conn.request!);
    conn.request = null;
    // Still held by the listener engine.io left on the TCP socket.
    expect(await collected(ref)).toBe(false);
    expect(removeResponseCloseListener(tcp)).toBe(1);
    expect(await collected(ref)).toBe(true);
  });

  it('tuned, the connection keeps none of it, and the request is freed', async () => {
    srv = await startTestServer({ TRANSPORT_TUNING: 'on' });
    expect(srv.server.transportTuning).toEqual([...TRANSPORT_PATCH_NAMES]);
    let ref: WeakRef<object> | undefined;
    srv.server.io.engine.on('connection', (session: { request: object }) => {
      ref = new WeakRef(session.request);
    });
    const { socket } = await connect(srv.url, { extraHeaders: { cookie: 'session=secret' } });
    const s = await onlySocket();
    const conn = internals(s);
    expect(conn.request).toBeNull();
    expect(s.request).toBeNull();
    expect(s.handshake.headers).toEqual({});
    expect(s.handshake.auth).toEqual({});
    expect(s.handshake.query).toEqual({});
    expect(conn.transport.listenerCount('headers')).toBe(0);
    const ws = conn.transport.socket;
    expect(ws.listeners('error').map((l) => l.name)).not.toContain(UPGRADE_ERROR_LISTENER);
    for (const e of [s, s.conn, conn.transport, ws]) expect(hasFastProperties((e as unknown as { _events: object })._events)).toBe(true);
    expect(await collected(ref!)).toBe(true);
    // And the connection works.
    expect(await request(socket, 'room:join', { room: 'r' })).toMatchObject({ success: true });
  });

  it('a library user (no releaseHandshake) keeps socket.request and the handshake; the other patches apply', async () => {
    srv = await startTestServer({ TRANSPORT_TUNING: 'on' }, { releaseHandshake: false });
    expect(srv.server.transportTuning).toEqual(TRANSPORT_PATCH_NAMES.filter((n) => n !== 'handshake-release'));
    const seen: { request: unknown; cookie: unknown }[] = [];
    srv.server.io.on('connection', (socket) => seen.push({ request: socket.request, cookie: socket.handshake.headers.cookie }));
    await connect(srv.url, { extraHeaders: { cookie: 'session=secret' } });
    const s = await onlySocket();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.cookie).toBe('session=secret');
    expect(s.request).toBe(seen[0]!.request);
    expect(s.request.headers.cookie).toBe('session=secret');
    expect(s.handshake.auth).toHaveProperty('token');
    const events = (internals(s).transport.socket as unknown as { _events: object })._events;
    expect(hasFastProperties(events)).toBe(true);
  });
});

describe('the start', () => {
  let srv: TestServer | undefined;
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
  });

  const linesOf = (env: Record<string, string>) => {
    const lines: { msg: string; transportTuning?: string[]; patch?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as (typeof lines)[number]);
        done();
      },
    });
    return { lines, start: () => startTestServer(env, { logger: pino({ level: 'info' }, sink) }) };
  };

  it('says in one info line which patches are active', async () => {
    const on = linesOf({ TRANSPORT_TUNING: 'on' });
    srv = await on.start();
    const line = on.lines.filter((l) => l.msg.startsWith('transport tuning'));
    expect(line).toEqual([expect.objectContaining({ msg: `transport tuning: ${TRANSPORT_PATCH_NAMES.join(', ')}`, transportTuning: [...TRANSPORT_PATCH_NAMES] })]);
  });

  it('says off when TRANSPORT_TUNING=off, and names a subset when asked for one', async () => {
    const off = linesOf({ TRANSPORT_TUNING: 'off' });
    srv = await off.start();
    expect(off.lines.filter((l) => l.msg.startsWith('transport tuning')).map((l) => l.msg)).toEqual(['transport tuning: off']);
    await srv.close();
    const some = linesOf({ TRANSPORT_TUNING: 'listener-compaction,write-batching' });
    srv = await some.start();
    expect(some.lines.filter((l) => l.msg.startsWith('transport tuning')).map((l) => l.msg)).toEqual(['transport tuning: write-batching, listener-compaction']);
  });
});
