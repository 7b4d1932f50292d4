/** A message waiting for the server's acknowledgement. */
export interface OutgoingMessage {
  /** Sent with every attempt: the server acknowledges a repeat with the original id and does not deliver it twice. */
  readonly clientMessageId: string;
  readonly room: string;
  readonly payload: unknown;
  readonly persistent: boolean;
  /** Transmissions so far. */
  attempts: number;
  /** `INTERNAL` answers so far (the server could not store or deliver it, e.g. Redis unreachable). */
  failures: number;
  resolve(messageId: string): void;
  reject(error: Error): void;
}

/** Bounded FIFO of messages not yet acknowledged: queued while offline, and in flight. */
export class Outbox {
  private readonly items: OutgoingMessage[] = [];

  constructor(readonly maxSize: number) {}

  get size(): number {
    return this.items.length;
  }

  get full(): boolean {
    return this.items.length >= this.maxSize;
  }

  /** Appends; false when the outbox is full. */
  push(message: OutgoingMessage): boolean {
    if (this.full) return false;
    this.items.push(message);
    return true;
  }

  /** The oldest message: the next to send. */
  peek(): OutgoingMessage | undefined {
    return this.items[0];
  }

  /** The waiting message with this client message id. */
  find(clientMessageId: string): OutgoingMessage | undefined {
    return this.items.find((m) => m.clientMessageId === clientMessageId);
  }

  /** Removes a message; false when it was not (or no longer) there. */
  remove(message: OutgoingMessage): boolean {
    const i = this.items.indexOf(message);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  /** Removes every message, oldest first. */
  drain(): OutgoingMessage[] {
    return this.items.splice(0, this.items.length);
  }
}
