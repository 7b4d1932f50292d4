import type { Logger } from './logger.js';

/** What the log writes to: a pino logger, or anything with its two levels. */
export type RefusalSink = Pick<Logger, 'info' | 'warn'>;

/**
 * Logs refusals (handshakes, sessions, origins, refreshes) as an audit trail that a flood cannot turn
 * into a flood of log lines: at most one line per client address per `intervalMs`, and at most
 * `maxLines` lines in all per `intervalMs` (a flood from many addresses). A line carries `suppressed`,
 * the refusals from that address left out since its previous line; `suppressedElsewhere` counts
 * those left out by the overall cap. Callers pass codes and ids, never a token. At most `maxKeys`
 * addresses are remembered; past that the map starts afresh (lines may then repeat sooner; nothing
 * grows).
 */
export class RefusalLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  private windowStart = -Infinity;
  private linesInWindow = 0;
  private overCap = 0;

  constructor(
    private readonly sink: RefusalSink,
    private readonly opts: { intervalMs?: number; maxLines?: number; maxKeys?: number; clock?: () => number } = {},
  ) {}

  refused(address: string, fields: Record<string, unknown>, message: string, level: 'info' | 'warn' = 'info'): void {
    const { intervalMs = 10_000, maxLines = 20, maxKeys = 10_000, clock = Date.now } = this.opts;
    const now = clock();
    const seen = this.last.get(address);
    if (seen && now - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    if (now - this.windowStart >= intervalMs) {
      this.windowStart = now;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow >= maxLines) {
      this.overCap++;
      return;
    }
    this.linesInWindow++;
    if (!seen && this.last.size >= maxKeys) this.last.clear();
    const extra = { ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}), ...(this.overCap ? { suppressedElsewhere: this.overCap } : {}) };
    this.overCap = 0;
    this.sink[level]({ address, ...fields, ...extra }, message);
    this.last.set(address, { at: now, suppressed: 0 });
  }
}
