/**
 * A circuit breaker in front of one backend: after `failures` consecutive failures it opens, and
 * calls are not made for `cooldownMs`; then one trial call is let through (half-open): its success
 * closes the circuit, its failure opens it for another cooldown. While open or while the trial is in
 * flight, `allow()` is false: a dead backend costs one request per cooldown, not one per client.
 */
export class CircuitBreaker {
  private consecutive = 0;
  private openedAt: number | undefined;
  private trialInFlight = false;

  constructor(
    private readonly failures: number,
    private readonly cooldownMs: number,
    private readonly onChange: (open: boolean) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  get open(): boolean {
    return this.openedAt !== undefined;
  }

  /** Whether a call may be made now; when it may, its outcome must be reported with `success` or `failure`. */
  allow(): boolean {
    if (this.openedAt === undefined) return true;
    if (this.trialInFlight || this.now() - this.openedAt < this.cooldownMs) return false;
    this.trialInFlight = true;
    return true;
  }

  success(): void {
    this.consecutive = 0;
    this.trialInFlight = false;
    if (this.openedAt !== undefined) {
      this.openedAt = undefined;
      this.onChange(false);
    }
  }

  failure(): void {
    this.consecutive++;
    const wasOpen = this.openedAt !== undefined;
    if (wasOpen || (this.failures > 0 && this.consecutive >= this.failures)) {
      this.trialInFlight = false;
      this.openedAt = this.now();
      if (!wasOpen) this.onChange(true);
    }
  }
}
