/**
 * Paces the sessions handed to Engine.IO: at most `perTurn` in one event-loop turn, the rest in
 * arrival order in the turns after. Setting up a session (Engine.IO's handshake, the WebSocket
 * upgrade, the first writes) costs a few hundred µs; when hundreds of clients come back at the same
 * moment (an instance killed, a drain without jitter), Node reads all their requests in one poll
 * phase, and handing every one on at once held the loop for that whole batch (70-120 ms for 400
 * clients in the storm bench) while the clients already connected waited. Between two paced batches
 * the loop serves everything else that is ready. The queue is bounded by the places the session
 * guard reserves at admission (MAX_PENDING_SESSIONS); nothing is refused here. `perTurn` 0: no pacing.
 */
export class SessionPacer {
  private readonly queue: (() => void)[] = [];
  private head = 0;
  /** Sessions handed on in the current turn. */
  private handed = 0;
  private scheduled = false;

  constructor(private readonly perTurn: number) {}

  /** Runs `start` now if this turn has room and nothing waits before it, else in a later turn. */
  run(start: () => void): void {
    if (this.perTurn <= 0) return start();
    if (this.waiting === 0 && this.handed < this.perTurn) {
      this.handed++;
      this.schedule();
      return start();
    }
    this.queue.push(start);
    this.schedule();
  }

  /** Sessions waiting for a later turn. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** A check-phase callback: a new turn's count, its share of the queue, and one more turn while anything was handed on. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.turn());
  }

  private turn(): void {
    this.scheduled = false;
    this.handed = 0;
    while (this.waiting > 0 && this.handed < this.perTurn) {
      const start = this.queue[this.head]!;
      this.queue[this.head++] = noop;
      this.handed++;
      start();
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    // Anything handed on in this check phase counts against the next poll phase: the count is reset one turn later.
    if (this.handed > 0) this.schedule();
  }
}

const noop = (): void => {};
