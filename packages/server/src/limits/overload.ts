import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** How often the lag is read (and the window it is the largest over). */
const SAMPLE_MS = 100;
/** How long an instance counts as overloaded after a window whose lag exceeded the limit. */
const HOLD_MS = 1000;
/** The histogram's resolution: its timer runs this often, so a delay is what a value holds beyond it. */
const RESOLUTION_MS = 10;

/**
 * Whether this instance is saturated, from its event loop's lag (Node's `monitorEventLoopDelay`,
 * the measure behind `websocket_event_loop_lag_ms` and the instance records): the largest delay of
 * each 100 ms window, and how late the window's own timer is right now (a loop stalled at this
 * moment has not run that timer yet). Above the limit, and for a second after, new handshakes are
 * refused at once with OVERLOADED instead of queueing behind the work already there: each one
 * admitted would cost a token check and store calls the loop has no time for, and lengthen the wait
 * of the clients already connected. The wait given back is jittered per client (1 to 2 times the
 * configured one) so that the refused do not all come back in the same instant.
 */
export class OverloadGuard {
  private readonly delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private timer: NodeJS.Timeout | undefined;
  /** False until the first window has passed: it holds what the process did while starting, not load. */
  private measuring = false;
  private lastTick = performance.now();
  private overloadedUntil = 0;
  /** The largest event-loop delay of the last window, in ms. */
  lagMs = 0;

  constructor(
    private readonly limitMs: number,
    private readonly retryAfterMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Starts measuring (nothing when the limit is 0); returns a stop function. */
  start(): () => void {
    if (this.limitMs <= 0 || this.timer) return () => {};
    this.delay.enable();
    this.measuring = false;
    this.lastTick = performance.now();
    this.timer = setInterval(() => this.tick(), SAMPLE_MS);
    this.timer.unref();
    return () => {
      clearInterval(this.timer);
      this.timer = undefined;
      this.delay.disable();
    };
  }

  /** Undefined when a new handshake may go ahead; else how long the client should wait (ms). */
  refusal(now = performance.now()): number | undefined {
    if (this.limitMs <= 0 || !this.timer || !this.measuring) return undefined;
    const late = now - this.lastTick - SAMPLE_MS;
    if (now >= this.overloadedUntil && late <= this.limitMs) return undefined;
    return Math.round(this.retryAfterMs * (1 + this.random()));
  }

  private tick(): void {
    const now = performance.now();
    const max = this.delay.max;
    this.delay.reset();
    const late = now - this.lastTick - SAMPLE_MS;
    this.lastTick = now;
    if (!this.measuring) {
      // The first window covers the rest of the start (modules compiled, routes built): not load.
      this.measuring = true;
      return;
    }
    // The histogram holds its timer's intervals in ns (the resolution included); this timer's own lateness covers a stall it has not recorded yet.
    this.lagMs = Math.max(Number.isFinite(max) && max > 0 ? max / 1e6 - RESOLUTION_MS : 0, late);
    if (this.lagMs > this.limitMs) this.overloadedUntil = now + HOLD_MS;
  }
}
