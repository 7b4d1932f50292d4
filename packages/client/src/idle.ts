import type { Timers } from './timers.js';

export interface IdleDetector {
  stop(): void;
}

const ACTIVITY_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart', 'scroll'] as const;

interface EventTargetLike {
  addEventListener(type: string, listener: () => void, options?: { passive?: boolean; capture?: boolean }): void;
  removeEventListener(type: string, listener: () => void, options?: { capture?: boolean }): void;
}
interface DocumentLike extends EventTargetLike {
  visibilityState?: string;
}

/**
 * Reports the user idle after `timeoutMs` without pointer, keyboard, wheel, touch or scroll activity, and
 * active again on the next activity or when the page becomes visible. Browsers only: returns undefined
 * where there is no `document` (Node, workers).
 */
export function startIdleDetection(timeoutMs: number, timers: Timers, onChange: (idle: boolean) => void): IdleDetector | undefined {
  const g = globalThis as { document?: DocumentLike; window?: EventTargetLike };
  const doc = g.document;
  const win = g.window;
  if (!doc || typeof doc.addEventListener !== 'function' || !(timeoutMs > 0)) return undefined;
  const target: EventTargetLike = win && typeof win.addEventListener === 'function' ? win : doc;

  let last = timers.now();
  let idle = false;
  let timer: unknown;
  let stopped = false;

  const arm = (ms: number): void => {
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = timers.setTimeout(check, ms);
  };
  function check(): void {
    timer = undefined;
    if (stopped) return;
    const elapsed = timers.now() - last;
    if (elapsed >= timeoutMs) {
      if (!idle) {
        idle = true;
        onChange(true);
      }
      return;
    }
    arm(timeoutMs - elapsed);
  }
  const activity = (): void => {
    if (stopped || doc.visibilityState === 'hidden') return;
    last = timers.now();
    if (idle) {
      idle = false;
      onChange(false);
      arm(timeoutMs);
    } else if (timer === undefined) {
      arm(timeoutMs);
    }
  };

  for (const type of ACTIVITY_EVENTS) target.addEventListener(type, activity, { passive: true, capture: true });
  doc.addEventListener('visibilitychange', activity);
  arm(timeoutMs);

  return {
    stop(): void {
      stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      for (const type of ACTIVITY_EVENTS) target.removeEventListener(type, activity, { capture: true });
      doc.removeEventListener('visibilitychange', activity);
    },
  };
}
