import { describe, expect, it } from 'vitest';
import { TypedEmitter } from '../../src/emitter.js';
import { connectError, requestError, WebSocketClientError, ackError } from '../../src/errors.js';

interface Events {
  ping: (n: number) => void;
  pair: (a: string, b: { x: number }) => void;
}
class E extends TypedEmitter<Events> {
  fire<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): boolean {
    return this.emit(event, ...args);
  }
}

describe('TypedEmitter', () => {
  it('supports on, once and off', () => {
    const e = new E();
    const seen: number[] = [];
    const l = (n: number) => seen.push(n);
    e.on('ping', l);
    e.once('ping', (n) => seen.push(n * 10));
    e.fire('ping', 1);
    e.fire('ping', 2);
    e.off('ping', l);
    expect(e.fire('ping', 3)).toBe(false);
    expect(seen).toEqual([1, 10, 2]);
    e.on('pair', () => {});
    e.off('pair');
    expect(e.listenerCount('pair')).toBe(0);
  });

  it('on and once return a function that removes that one registration', () => {
    const e = new E();
    const seen: string[] = [];
    const l = (n: number) => seen.push(`l${n}`);
    const first = e.on('ping', l);
    e.on('ping', l);
    const pending = e.once('ping', (n) => seen.push(`once${n}`));
    first();
    first();
    pending();
    e.fire('ping', 1);
    expect(seen).toEqual(['l1']);
    expect(e.listenerCount('ping')).toBe(1);
  });
});

describe('errors', () => {
  it('carry a code', () => {
    const err = ackError({ error: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 20 }, 'room');
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(WebSocketClientError);
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.room).toBe('room');
    expect(err.retryAfterMs).toBe(20);
    expect(err.message).toBe('RATE_LIMITED: slow down');
  });
  it('map connect errors to the server code or TRANSPORT_ERROR', () => {
    const refused = Object.assign(new Error('AUTH_INVALID'), { data: { code: 'AUTH_INVALID', message: 'bad signature' } });
    expect(connectError(refused).code).toBe('AUTH_INVALID');
    expect(connectError(new Error('TENANT_MISMATCH')).code).toBe('TENANT_MISMATCH');
    expect(connectError(new Error('websocket error')).code).toBe('TRANSPORT_ERROR');
  });
  it('map ack failures to TIMEOUT or NOT_CONNECTED', () => {
    expect(requestError(new Error('operation has timed out')).code).toBe('TIMEOUT');
    expect(requestError(new Error('socket has been disconnected')).code).toBe('NOT_CONNECTED');
  });
});
