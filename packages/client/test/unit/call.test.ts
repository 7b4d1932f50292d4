import { describe, expect, it } from 'vitest';
import { underCallOptions } from '../../src/call.js';
import { WebSocketClientError } from '../../src/errors.js';
import { manualTimers } from '../helpers/timers.js';

const never = () => new Promise<string>(() => {});
const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof WebSocketClientError ? e.code : String(e)));

describe('underCallOptions', () => {
  it('without options runs the call as it is', async () => {
    const timers = manualTimers();
    expect(await underCallOptions(timers, undefined, async () => 'ok')).toBe('ok');
    expect(timers.pending()).toBe(0);
  });

  it('a timeout rejects with TIMEOUT and cancels what the call left behind', async () => {
    const timers = manualTimers();
    const cancelled: string[] = [];
    const result = code(underCallOptions(timers, { timeout: 500 }, never, (e) => cancelled.push(e.code), 'room-a'));
    expect(timers.pending()).toBe(1);
    timers.fire();
    expect(await result).toBe('TIMEOUT');
    expect(cancelled).toEqual(['TIMEOUT']);
  });

  it('an abort rejects with ABORTED, the reason as cause, and cancels', async () => {
    const timers = manualTimers();
    const controller = new AbortController();
    const cancelled: string[] = [];
    const pending = underCallOptions(timers, { signal: controller.signal, timeout: 1000 }, never, (e) => cancelled.push(e.code));
    controller.abort(new Error('user left the page'));
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebSocketClientError);
    expect((error as WebSocketClientError).code).toBe('ABORTED');
    expect(((error as WebSocketClientError).cause as Error).message).toBe('user left the page');
    expect(cancelled).toEqual(['ABORTED']);
    expect(timers.pending()).toBe(0);
  });

  it('an already aborted signal rejects without starting the call', async () => {
    let started = false;
    const signal = AbortSignal.abort();
    const result = code(underCallOptions(manualTimers(), { signal }, async () => void (started = true)));
    expect(await result).toBe('ABORTED');
    expect(started).toBe(false);
  });

  it('a call that settles first clears the timer and the abort listener; later aborts change nothing', async () => {
    const timers = manualTimers();
    const controller = new AbortController();
    const cancelled: string[] = [];
    expect(await underCallOptions(timers, { signal: controller.signal, timeout: 50 }, async () => 'done', (e) => cancelled.push(e.code))).toBe('done');
    expect(timers.pending()).toBe(0);
    controller.abort();
    expect(cancelled).toEqual([]);
    expect(await code(underCallOptions(timers, { timeout: 50 }, () => Promise.reject(new Error('own failure'))))).toBe('Error: own failure');
  });

  it('refuses a timeout that is not a positive number', async () => {
    expect(await code(underCallOptions(manualTimers(), { timeout: 0 }, async () => 1))).toMatch(/timeout must be a positive number/);
    expect(await code(underCallOptions(manualTimers(), { timeout: Number.NaN }, async () => 1))).toMatch(/timeout must be a positive number/);
  });
});
