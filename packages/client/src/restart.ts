import type { TimerHandle, Timers } from './timers.js';

/**
 * A draining server's `system:restart { reconnectIn }`: the time it asked the client to be gone by.
 * The server waits for its clients to go (up to its SHUTDOWN_TIMEOUT) and has told each one when, so
 * the client leaves then: the drain ends as soon as everyone has moved, and the moves stay spread as
 * the server drew them.
 */
export class RestartNotice {
  /** The time to be gone by, as `timers.now()`. */
  private at: number | undefined;
  private timer: TimerHandle | undefined;

  constructor(private readonly timers: Timers) {}

  /** Calls `leave` in `delay` ms (a later notice replaces an earlier one). */
  arm(delay: number, leave: () => void): void {
    this.at = this.timers.now() + delay;
    this.stopTimer();
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.at = undefined;
      leave();
    }, delay);
  }

  /** The connection closed before the time came: what is left of the wait (undefined without a notice); forgets it. */
  takeRemaining(): number | undefined {
    const at = this.at;
    this.at = undefined;
    return at === undefined ? undefined : Math.max(0, at - this.timers.now());
  }

  /** The connection is no longer used: no leaving on its behalf (the time given stays, for `takeRemaining`). */
  stopTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Forgets the notice altogether. */
  clear(): void {
    this.stopTimer();
    this.at = undefined;
  }
}
