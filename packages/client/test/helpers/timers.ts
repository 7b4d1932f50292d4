import type { Timers } from '../../src/timers.js';

/** Timers that fire only when the test says so. */
export function manualTimers(): Timers & { fire(): void; pending(): number } {
  let next = 1;
  const due = new Map<number, () => void>();
  return {
    setTimeout: (fn) => {
      const id = next++;
      due.set(id, fn);
      return id;
    },
    clearTimeout: (h) => void due.delete(h as number),
    setInterval: () => 0,
    clearInterval: () => {},
    now: () => 0,
    /** Runs every timer due so far, at once, whatever its delay. */
    fire() {
      const fns = [...due.values()];
      due.clear();
      for (const fn of fns) fn();
    },
    pending: () => due.size,
  };
}
