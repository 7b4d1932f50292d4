import type { Logger } from './logger.js';

/**
 * Logs refusals (handshakes, refreshes, sessions) at most once per `intervalMs` per client address,
 * with how many were left out since the last line: an audit trail that a flood from one address cannot
 * turn into a flood of log lines. Never given a token: callers pass codes and ids only. At most
 * `maxKeys` addresses are remembered; past that the map starts afresh (a line per address may then
 * repeat sooner, nothing grows).
 */
export class RefusalLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
    private readonly maxKeys = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  refused(address: string, fields: Record<string, unknown>, message: string, level: 'info' | 'warn' = 'info'): void {
    const now = this.clock();
    const seen = this.last.get(address);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    if (!seen && this.last.size >= this.maxKeys) this.last.clear();
    this.logger[level]({ address, ...fields, ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}) }, message);
    this.last.set(address, { at: now, suppressed: 0 });
  }
}
