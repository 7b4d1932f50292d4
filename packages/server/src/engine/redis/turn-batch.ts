/** What a batch's run answers for each item: its result, or an Error for that item alone. */
export type BatchOutcome<O> = O | Error;

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Gathers the calls made during one event-loop turn and runs them together once the turn's I/O
 * callbacks are done (setImmediate: the handshakes of many sockets whose packets arrived in the same
 * poll each run in their own callback, so a microtask would flush after each of them). The calls
 * go in chunks of at most `maxBatch`, so one call never holds Redis for long. Each caller gets its
 * own item's result, or its own error: an Error in the answer rejects that caller only; a failed
 * run rejects every caller of the chunk.
 */
export class TurnBatch<I, O> {
  private waiting: Waiting<I, O>[] = [];
  private scheduled = false;

  constructor(
    private readonly run: (items: readonly I[]) => Promise<readonly BatchOutcome<O>[]>,
    private readonly maxBatch = 64,
  ) {
    if (!(maxBatch >= 1)) throw new Error(`maxBatch must be at least 1: ${maxBatch}`);
  }

  /** Adds an item to this turn's batch; settles with its own outcome. */
  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const all = this.waiting;
    this.waiting = [];
    this.scheduled = false;
    for (let i = 0; i < all.length; i += this.maxBatch) this.runChunk(all.slice(i, i + this.maxBatch));
  }

  private runChunk(chunk: Waiting<I, O>[]): void {
    let answer: Promise<readonly BatchOutcome<O>[]>;
    try {
      answer = this.run(chunk.map((w) => w.item));
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (outcomes) => {
        if (outcomes.length !== chunk.length) {
          const err = new Error(`a batch of ${chunk.length} was answered with ${outcomes.length} outcomes`);
          for (const w of chunk) w.reject(err);
          return;
        }
        chunk.forEach((w, k) => {
          const outcome = outcomes[k] as BatchOutcome<O>;
          if (outcome instanceof Error) w.reject(outcome);
          else w.resolve(outcome);
        });
      },
      (err: unknown) => {
        for (const w of chunk) w.reject(err);
      },
    );
  }
}
