/** Opaque timer handle. */
export type TimerHandle = unknown;

/** The timer functions the client uses; inject your own to control time in tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
  now(): number;
}

/** setTimeout's largest delay. */
export const MAX_TIMER_DELAY = 2_147_483_647;

export const defaultTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_DELAY)),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as number | undefined),
  setInterval: (fn, ms) => globalThis.setInterval(fn, Math.min(Math.max(1, ms), MAX_TIMER_DELAY)),
  clearInterval: (handle) => globalThis.clearInterval(handle as number | undefined),
  now: () => Date.now(),
};
