/** Client-side test helpers: SDK clients against real server processes, and waiting for what they see. */
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { io } from 'socket.io-client';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import { mintToken, type TestTokenOptions } from '../../../server/test/helpers/tokens.js';
import { WebSocketClient, type Timers } from '../../src/index.js';
import { defaultTimers } from '../../src/timers.js';
import type { ClientSocket, SocketFactory, WebSocketClientEvents, WebSocketClientOptions } from '../../src/index.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` (awaited when it is async) until it returns something truthy; fails with `what` after `timeoutMs`. */
export async function until<T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The arguments of the next `event`. */
export function nextEvent<K extends keyof WebSocketClientEvents>(
  client: WebSocketClient,
  event: K,
  timeoutMs = 20_000,
): Promise<Parameters<WebSocketClientEvents[K]>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${String(event)}`)), timeoutMs);
    const listener = ((...args: Parameters<WebSocketClientEvents[K]>) => {
      clearTimeout(timer);
      resolve(args);
    }) as unknown as WebSocketClientEvents[K];
    client.once(event, listener);
  });
}

/** Records the messages and state changes a client sees. */
export function record(client: WebSocketClient): { messages: RoomMessage[]; states: string[] } {
  const seen = { messages: [] as RoomMessage[], states: [] as string[] };
  client.on('room:message', (m) => seen.messages.push(m));
  client.on('status:change', (s) => seen.states.push(s));
  return seen;
}

export const token = (sub: string, extra: Partial<TestTokenOptions> = {}) => mintToken({ sub, tenantId: 'acme', ...extra });

/** Creates SDK clients and disconnects them all at the end of a test. */
export class ClientPool {
  private readonly clients: WebSocketClient[] = [];

  async create(url: string | string[], sub: string, options: Partial<WebSocketClientOptions> = {}): Promise<WebSocketClient> {
    const client = new WebSocketClient({
      ...(Array.isArray(url) ? { urls: url } : { url }),
      token: options.getToken ? undefined : await token(sub),
      tenantId: 'acme',
      transports: ['websocket'],
      backoff: { minDelayMs: 50, maxDelayMs: 500 },
      ackTimeoutMs: 5000,
      ...options,
    } as WebSocketClientOptions);
    this.clients.push(client);
    return client;
  }

  closeAll(): void {
    for (const c of this.clients.splice(0)) c.disconnect();
  }
}

/**
 * A socket factory whose network can be cut for one client: `cut()` closes its connection and sends
 * its attempts to a closed port until `restore()`. `emitted` lists the events the client sent.
 */
export function cuttableNetwork(): { factory: SocketFactory; cut(): void; restore(): void; emitted: string[] } {
  let offline = false;
  let current: ClientSocket | undefined;
  const emitted: string[] = [];
  return {
    emitted,
    factory: (url, options) => {
      current = io(offline ? 'http://127.0.0.1:9' : url, options);
      current.onAnyOutgoing((event: string) => emitted.push(event));
      return current;
    },
    cut() {
      offline = true;
      current?.io.engine?.close();
    },
    restore() {
      offline = false;
    },
  };
}

/** The real timers, recording every setTimeout delay the client asks for. */
export function recordingTimers(): { timers: Timers; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    timers: {
      ...defaultTimers,
      setTimeout: (fn, ms) => {
        delays.push(ms);
        return defaultTimers.setTimeout(fn, ms);
      },
    },
  };
}

/**
 * One real server process for the test file (started before its tests, stopped after them) and a
 * client pool emptied after each test. `server()` is the process, once started.
 */
export function serverSuite(env: Record<string, string> = {}): { server(): ServerProcess; pool: ClientPool } {
  let server: ServerProcess | undefined;
  const pool = new ClientPool();
  beforeAll(async () => {
    server = await startServerProcess(env);
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(() => pool.closeAll());
  return {
    pool,
    server() {
      if (!server) throw new Error('the server is not started yet');
      return server;
    },
  };
}
