import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_CODES, isRetryable, reconnectAdvice, type ErrorCode, type SendRequest } from '@intelgraph/websocket-protocol';
import { SEND_RETRY } from '../../src/backoff.js';
import { defaultTimers } from '../../src/timers.js';
import type { Timers, WebSocketClient, WebSocketClientError } from '../../src/index.js';
import { ClientPool, nextEvent, token, until } from '../helpers/harness.js';

/**
 * A Socket.IO server speaking just enough of the protocol to refuse what the test says: a handshake
 * (`connect_error` data `{ code, message }`) or each `room:send` (an error ack), as a real server does.
 */
interface Script {
  /** Refuse handshake n (from 1) with this code, or admit it (undefined). */
  handshake(n: number): ErrorCode | undefined;
  /** The `retryAfterMs` of handshake n's refusal, if any. */
  handshakeRetryAfterMs?(n: number): number | undefined;
  /** The answer to send attempt n (from 1) of a message. */
  send(n: number): { success: false; error: string; message: string; retryAfterMs?: number } | undefined;
}

const admitAll: Script = { handshake: () => undefined, send: () => undefined };

let http: HttpServer;
let io: Server;
let url: string;
let script: Script = admitAll;
let handshakes = 0;
/** The `clientMessageId` of every `room:send` received, in order. */
let sends: string[] = [];

beforeAll(async () => {
  http = createServer();
  io = new Server(http, { transports: ['websocket'] });
  io.use((_socket, next) => {
    const n = ++handshakes;
    const code = script.handshake(n);
    if (code === undefined) return next();
    const retryAfterMs = script.handshakeRetryAfterMs?.(n);
    next(Object.assign(new Error(code), { data: { code, message: `refused with ${code}`, ...(retryAfterMs !== undefined && { retryAfterMs }) } }));
  });
  io.on('connection', (socket) => {
    socket.on('room:join', (req: { room: string }, ack: (res: object) => void) => ack({ success: true, room: req.room }));
    socket.on('room:send', (req: SendRequest, ack: (res: object) => void) => {
      sends.push(req.clientMessageId as string);
      const attempt = sends.filter((id) => id === req.clientMessageId).length;
      ack(script.send(attempt) ?? { success: true, messageId: `${String(attempt).padStart(16, '0')}-scripted` });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await io?.close();
});

const pool = new ClientPool();
beforeEach(() => {
  script = admitAll;
  handshakes = 0;
  sends = [];
});
afterEach(() => pool.closeAll());

/** Real timers that fire at once, recording the delay the client asked for (waits of up to 8 s each would be needless here). */
function hurriedTimers(): { timers: Timers; delays: number[] } {
  const delays: number[] = [];
  return { delays, timers: { ...defaultTimers, setTimeout: (fn, ms) => (delays.push(ms), defaultTimers.setTimeout(fn, 1)) } };
}

async function joinedClient(timers: Timers): Promise<WebSocketClient> {
  const client = await pool.create(url, 'alice', { timers, heartbeatIntervalMs: 0 });
  await client.joinRoom('r');
  return client;
}

const refusal = (error: string, retryAfterMs?: number) => ({ success: false as const, error, message: `scripted ${error}`, ...(retryAfterMs !== undefined && { retryAfterMs }) });

describe('a send the server refuses', () => {
  it.each(ERROR_CODES.map((code) => [code, isRetryable(code)] as const))('answered %s (retryable: %s) is sent again only when the protocol says it is retryable', async (code, retryable) => {
    script = { ...admitAll, send: () => refusal(code) };
    const client = await joinedClient(hurriedTimers().timers);
    const err = (await client.sendMessage('r', 'x').catch((e: unknown) => e)) as WebSocketClientError;
    expect(err.code).toBe(code);
    expect(sends.length).toBe(retryable ? 1 + SEND_RETRY.retries : 1);
    // Every attempt is the same message to the server.
    expect(new Set(sends).size).toBe(1);
  });

  it('answered INTERNAL is sent again after a backoff within the one retry curve, and resolves once accepted', async () => {
    script = { ...admitAll, send: (n) => (n <= 3 ? refusal('INTERNAL') : undefined) };
    const { timers, delays } = hurriedTimers();
    const client = await joinedClient(timers);
    const before = delays.length;
    expect(await client.sendMessage('r', 'x')).toBe('0000000000000004-scripted');
    expect(sends.length).toBe(4);
    expect(new Set(sends).size).toBe(1);
    // Full jitter: each wait at most the curve's ceiling for its attempt (the client waits at least 10 ms).
    const waits = delays.slice(before);
    expect(waits.length).toBe(3);
    waits.forEach((ms, attempt) => expect(ms).toBeLessThanOrEqual(Math.max(10, Math.min(SEND_RETRY.maxDelayMs, SEND_RETRY.minDelayMs * SEND_RETRY.factor ** attempt))));
  });

  it('answered RATE_LIMITED waits retryAfterMs each time, however often, without using up the retries', async () => {
    const times = SEND_RETRY.retries + 4;
    script = { ...admitAll, send: (n) => (n <= times ? refusal('RATE_LIMITED', 777) : undefined) };
    const { timers, delays } = hurriedTimers();
    const client = await joinedClient(timers);
    expect(await client.sendMessage('r', 'x')).toMatch(/-scripted$/);
    expect(sends.length).toBe(times + 1);
    expect(delays.filter((ms) => ms === 777).length).toBe(times);
  });

  it('answered with a code this SDK does not know is not sent again', async () => {
    script = { ...admitAll, send: () => refusal('SOME_FUTURE_CODE') };
    const client = await joinedClient(hurriedTimers().timers);
    await expect(client.sendMessage('r', 'x')).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(sends.length).toBe(1);
  });
});

describe('a connection the server refuses', () => {
  it('with OVERLOADED and retryAfterMs waits at least that long before the next attempt, each time', async () => {
    script = { ...admitAll, handshake: (n) => (n <= 3 ? 'OVERLOADED' : undefined), handshakeRetryAfterMs: (n) => 900 + n };
    const { timers, delays } = hurriedTimers();
    const client = await pool.create(url, 'alice', { timers, heartbeatIntervalMs: 0, autoConnect: false, backoff: { minDelayMs: 1, maxDelayMs: 5 } });
    const codes: string[] = [];
    client.on('connect_error', (e) => codes.push(e.code));
    await client.connect();
    expect(handshakes).toBe(4);
    expect(codes).toEqual(['OVERLOADED', 'OVERLOADED', 'OVERLOADED']);
    // The backoff alone would wait at most 5 ms: each wait is the server's.
    for (const ms of [901, 902, 903]) expect(delays).toContain(ms);
  });

  it.each(ERROR_CODES.map((code) => [code, reconnectAdvice(code)] as const))('with %s (advice %s) is tried again, renewed or given up as the protocol says', async (code, advice) => {
    script = { ...admitAll, handshake: (n) => (n === 1 ? code : undefined) };
    const client = await pool.create(url, 'alice', { heartbeatIntervalMs: 0, autoConnect: false, backoff: { minDelayMs: 1, maxDelayMs: 5 } });
    const states: string[] = [];
    client.on('status:change', (s) => states.push(s));
    const connected = client.connect().then(
      () => 'connected',
      (e: WebSocketClientError) => e.code,
    );
    if (advice === 'stop' || advice === 'renew') {
      // A fixed token cannot be renewed: for both, the client fails with the code after one attempt.
      expect(await connected).toBe(code);
      expect(states.at(-1)).toBe('failed');
      expect(handshakes).toBe(1);
    } else {
      expect(await connected).toBe('connected');
      expect(handshakes).toBe(2);
    }
  });

  it('with AUTH_EXPIRED asks getToken for a new token and connects', async () => {
    script = { ...admitAll, handshake: (n) => (n === 1 ? 'AUTH_EXPIRED' : undefined) };
    let calls = 0;
    const client = await pool.create(url, 'alice', {
      heartbeatIntervalMs: 0,
      backoff: { minDelayMs: 1, maxDelayMs: 5 },
      getToken: () => {
        calls++;
        return token('alice');
      },
    });
    const [error] = await nextEvent(client, 'connect_error');
    expect(error.code).toBe('AUTH_EXPIRED');
    await until(() => client.connected, 'the connection with a new token');
    expect(handshakes).toBe(2);
    expect(calls).toBe(2);
  });
});
