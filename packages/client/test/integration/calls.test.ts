import { afterEach, describe, expect, it } from 'vitest';
import { startServerProcess } from '../../../server/test/helpers/server-process.js';
import { startTcpProxy, type TcpProxy } from '../../../server/test/helpers/tcp-proxy.js';
import { WebSocketClientError, type Logger, type StateChange } from '../../src/index.js';
import { cuttableNetwork, record, serverSuite, until } from '../helpers/harness.js';

const suite = serverSuite();
const { pool } = suite;
let proxy: TcpProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof WebSocketClientError ? e.code : String(e)));

describe('signal and timeout on every call', () => {
  it('an aborted or timed-out send leaves the offline queue and is never delivered', async () => {
    const net = cuttableNetwork();
    const alice = await pool.create(suite.server().url, 'alice', { socketFactory: net.factory });
    const bob = await pool.create(suite.server().url, 'bob');
    const bobSeen = record(bob);
    await alice.joinRoom('calls');
    await bob.joinRoom('calls');
    net.cut();
    await until(() => alice.status === 'reconnecting', 'alice offline');

    const controller = new AbortController();
    const aborted = codeOf(alice.sendMessage('calls', { n: 'aborted' }, { persistent: true, signal: controller.signal }));
    const timedOut = codeOf(alice.sendMessage('calls', { n: 'timed out' }, true, { timeout: 200 }));
    const kept = alice.sendMessage('calls', { n: 'kept' }, true);
    expect(alice.queueSize).toBe(3);
    controller.abort();
    expect(await aborted).toBe('ABORTED');
    expect(await timedOut).toBe('TIMEOUT');
    expect(alice.queueSize).toBe(1);

    net.restore();
    const keptId = await kept;
    await until(() => bobSeen.messages.length === 1, 'the kept message at bob');
    // A later message proves nothing else was still on its way.
    const last = await alice.sendMessage('calls', { n: 'last' });
    await until(() => bobSeen.messages.length === 2, 'the last message at bob');
    expect(bobSeen.messages.map((m) => [m.id, m.payload])).toEqual([
      [keptId, { n: 'kept' }],
      [last, { n: 'last' }],
    ]);
    expect(net.emitted.filter((e) => e === 'room:send')).toHaveLength(2);
  });

  it('a join that times out before the connection comes up is forgotten; connect() can be abandoned too', async () => {
    const alice = await pool.create(`http://127.0.0.1:9`, 'alice');
    const join = codeOf(alice.joinRoom('calls', undefined, { timeout: 300 }));
    expect(alice.joinedRooms).toEqual(['calls']);
    expect(await join).toBe('TIMEOUT');
    expect(alice.joinedRooms).toEqual([]);
    expect(await codeOf(alice.connect({ timeout: 200 }))).toBe('TIMEOUT');
    // The client keeps trying after an abandoned connect() wait.
    expect(alice.status).toBe('connecting');
  });

  it('a request to a server that went silent ends with the call timeout, not ackTimeoutMs; an aborted query rejects at once', async () => {
    proxy = await startTcpProxy(suite.server().port);
    const alice = await pool.create(`http://127.0.0.1:${proxy.port}`, 'alice', { ackTimeoutMs: 60_000 });
    await alice.joinRoom('calls');
    expect(await alice.queryRooms({ timeout: 5000 })).toEqual(['calls']);
    proxy.freeze();
    expect(await codeOf(alice.queryRooms({ timeout: 300 }))).toBe('TIMEOUT');
    expect(await codeOf(alice.getHistory('calls', { limit: 5, timeout: 300 }))).toBe('TIMEOUT');
    const controller = new AbortController();
    const presence = codeOf(alice.queryPresence('calls', { signal: controller.signal }));
    controller.abort();
    expect(await presence).toBe('ABORTED');
    expect(await codeOf(alice.queryRooms({ signal: AbortSignal.abort() }))).toBe('ABORTED');
    proxy.thaw();
    expect(await alice.queryRooms({ timeout: 5000 })).toEqual(['calls']);
  });
});

describe('maxReconnectAttempts, state-change reasons and the logger', () => {
  it('gives up after maxReconnectAttempts failed attempts in a row: failed with RECONNECT_FAILED, every reason coded', async () => {
    const own = await startServerProcess();
    const lines: { level: keyof Logger; message: string; context?: Record<string, unknown> }[] = [];
    const logger: Logger = {
      debug: (message, context) => lines.push({ level: 'debug', message, ...(context && { context }) }),
      info: (message, context) => lines.push({ level: 'info', message, ...(context && { context }) }),
      warn: (message, context) => lines.push({ level: 'warn', message, ...(context && { context }) }),
      error: (message, context) => lines.push({ level: 'error', message, ...(context && { context }) }),
    };
    try {
      const alice = await pool.create(own.url, 'alice', { maxReconnectAttempts: 3, logger, autoConnect: false });
      const changes: StateChange[] = [];
      alice.on('status:change', (_s, change) => changes.push(change));
      void alice.connect().catch(() => {});
      const sent = codeOf(alice.joinRoom('calls').then(() => own.kill()).then(() => alice.sendMessage('calls', 'never sent')));
      expect(await sent).toBe('RECONNECT_FAILED');
      expect(alice.status).toBe('failed');
      expect(alice.lastError?.code).toBe('RECONNECT_FAILED');
      expect(changes.map((c) => [c.newState, c.reason])).toEqual([
        ['connecting', 'connect'],
        ['connected', 'connected'],
        ['reconnecting', 'transport close'],
        ['failed', 'RECONNECT_FAILED'],
      ]);
      expect(lines.filter((l) => l.message === 'connection attempt failed')).toHaveLength(3);
      expect(lines.filter((l) => l.level === 'info').map((l) => l.message)).toEqual([
        'connection connecting',
        'connection connected',
        'connection reconnecting',
        'connection failed',
      ]);
      expect(lines.some((l) => l.level === 'error' && l.context?.code === 'RECONNECT_FAILED')).toBe(true);
      const token = (alice as unknown as { auth: { current: string } }).auth.current;
      expect(JSON.stringify(lines)).not.toContain(token);
    } finally {
      await own.stop();
    }
  });
});

describe('echo', () => {
  it('with echo, the sender gets its own acknowledged message once, as the others do; without, it does not', async () => {
    const alice = await pool.create(suite.server().url, 'alice', { echo: true });
    const quiet = await pool.create(suite.server().url, 'alice');
    const bob = await pool.create(suite.server().url, 'bob');
    const aliceSeen = record(alice);
    const quietSeen = record(quiet);
    const bobSeen = record(bob);
    await Promise.all([alice.joinRoom('echo'), quiet.joinRoom('echo'), bob.joinRoom('echo')]);
    const own = alice.room('echo');
    const roomSeen: unknown[] = [];
    own.on('message', (m) => roomSeen.push(m.payload));
    let echoedBeforeAck = false;
    const id = await alice.sendMessage('echo', { text: 'mine' }, true).then((messageId) => {
      echoedBeforeAck = aliceSeen.messages.length === 1;
      return messageId;
    });
    expect(echoedBeforeAck).toBe(true);
    const fromOwnNoEcho = await quiet.sendMessage('echo', { text: 'quiet' });
    await until(() => bobSeen.messages.length === 2, 'both messages at bob');
    await until(() => aliceSeen.messages.length === 2, "the quiet connection's message at alice");
    expect(aliceSeen.messages[0]).toEqual({ ...bobSeen.messages[0], timestamp: expect.any(Number) });
    expect(aliceSeen.messages.map((m) => m.id)).toEqual([id, fromOwnNoEcho]);
    expect(roomSeen).toEqual([{ text: 'mine' }, { text: 'quiet' }]);
    // The connection without echo sees its sibling's message (the server sends it) but not its own.
    expect(quietSeen.messages.map((m) => m.id)).toEqual([id]);
  });
});
