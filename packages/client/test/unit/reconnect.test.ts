import { describe, expect, it } from 'vitest';
import { WebSocketClient, type ClientSocket, type SocketFactory, type StateChange } from '../../src/index.js';
import { manualTimers } from '../helpers/timers.js';

/** Sockets whose every connection attempt fails on the next microtask, as a refused TCP connection does. */
function refusingNetwork(): { factory: SocketFactory; attempts: () => number } {
  let attempts = 0;
  const factory: SocketFactory = () => {
    const listeners = new Map<string, ((...args: unknown[]) => void)[]>();
    const socket = {
      connected: false,
      io: { opts: {} },
      on(event: string, fn: (...args: unknown[]) => void) {
        listeners.set(event, [...(listeners.get(event) ?? []), fn]);
        return socket;
      },
      connect() {
        attempts++;
        queueMicrotask(() => {
          for (const fn of listeners.get('connect_error') ?? []) fn(new Error('xhr poll error'));
        });
        return socket;
      },
      removeAllListeners() {
        listeners.clear();
        return socket;
      },
      disconnect() {
        return socket;
      },
    };
    return socket as unknown as ClientSocket;
  };
  return { factory, attempts: () => attempts };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('maxReconnectAttempts', () => {
  it('retries exactly that many times after the first failed attempt, then fails with RECONNECT_FAILED', async () => {
    const timers = manualTimers();
    const net = refusingNetwork();
    const client = new WebSocketClient({ url: 'http://127.0.0.1:9', token: 't', autoConnect: false, maxReconnectAttempts: 2, timers, socketFactory: net.factory });
    const changes: StateChange[] = [];
    client.on('status:change', (_s, change) => changes.push(change));
    const connecting = client.connect().catch((err: { code: string }) => err.code);
    for (let i = 0; i < 5 && client.status !== 'failed'; i++) {
      await flush();
      timers.fire();
    }
    expect(await connecting).toBe('RECONNECT_FAILED');
    expect(net.attempts()).toBe(3);
    expect(timers.pending()).toBe(0);
    expect(changes.map((c) => [c.newState, c.reason])).toEqual([
      ['connecting', 'connect'],
      ['failed', 'RECONNECT_FAILED'],
    ]);
    expect(client.lastError?.code).toBe('RECONNECT_FAILED');
  });

  it('0 means no retry; without the option the client keeps trying', async () => {
    const none = refusingNetwork();
    const client = new WebSocketClient({ url: 'http://127.0.0.1:9', token: 't', autoConnect: false, maxReconnectAttempts: 0, timers: manualTimers(), socketFactory: none.factory });
    expect(await client.connect().catch((err: { code: string }) => err.code)).toBe('RECONNECT_FAILED');
    expect(none.attempts()).toBe(1);

    const timers = manualTimers();
    const endless = refusingNetwork();
    const persistent = new WebSocketClient({ url: 'http://127.0.0.1:9', token: 't', autoConnect: false, timers, socketFactory: endless.factory });
    void persistent.connect().catch(() => {});
    for (let i = 0; i < 20; i++) {
      await flush();
      timers.fire();
    }
    expect(endless.attempts()).toBe(21);
    expect(persistent.status).toBe('connecting');
    persistent.disconnect();
  });

  it('refuses a negative or non-numeric limit', () => {
    expect(() => new WebSocketClient({ url: 'http://127.0.0.1:9', maxReconnectAttempts: -1, autoConnect: false })).toThrow(/maxReconnectAttempts/);
  });
});
