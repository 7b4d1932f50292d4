/** Client-side test helpers: SDK clients against real server processes, and waiting for what they see. */
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { mintToken, type TestTokenOptions } from '../../../server/test/helpers/tokens.js';
import { WebSocketClient } from '../../src/index.js';
import type { WebSocketClientEvents, WebSocketClientOptions } from '../../src/index.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns something truthy; fails with `what` after `timeoutMs`. */
export async function until<T>(check: () => T | undefined | null | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
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
