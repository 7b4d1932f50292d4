import { compareMessageIds, type RoomMessage } from '@intelgraph/websocket-protocol';

const byId = (a: RoomMessage, b: RoomMessage): number => compareMessageIds(a.id, b.id);

/**
 * Exactly-once, in-order delivery for one room.
 *
 * Message ids sort in the order a room's members receive them, so remembering the last delivered id is
 * enough: anything at or below it was delivered already. While a recovery (re-join with `since`, then
 * history pages) runs, live messages are held back and merged once the stored ones are delivered.
 */
export class RoomSequence {
  /** The id of the last message delivered in this room (the `since` of the next recovery). */
  lastId: string | undefined;
  private buffer: RoomMessage[] | undefined;
  private generation = 0;

  /** `isOwn` tells messages this client sent, which a recovery must not hand back to it. */
  constructor(private readonly isOwn: (message: RoomMessage) => boolean = () => false) {}

  get recovering(): boolean {
    return this.buffer !== undefined;
  }

  /** A live `room:message`: returns what to deliver now (nothing while a recovery runs). */
  live(message: RoomMessage): RoomMessage[] {
    if (this.buffer) {
      this.buffer.push(message);
      return [];
    }
    return this.accept(message) ? [message] : [];
  }

  /** Starts holding live messages back; returns a number naming this recovery. */
  beginRecovery(): number {
    this.buffer ??= [];
    return ++this.generation;
  }

  /** True while the recovery `generation` is the one running. */
  isRecovery(generation: number): boolean {
    return this.buffer !== undefined && this.generation === generation;
  }

  /** A page of stored messages (ascending ids): returns those to deliver. */
  recovered(page: readonly RoomMessage[]): RoomMessage[] {
    return [...page].sort(byId).filter((m) => this.accept(m));
  }

  /** Ends a recovery that completed: returns the held-back live messages to deliver, in id order. */
  endRecovery(): RoomMessage[] {
    const held = this.buffer ?? [];
    this.buffer = undefined;
    return this.recovered(held);
  }

  /**
   * Ends a recovery that could not complete (the connection dropped): the held-back messages are
   * discarded, since delivering them would skip the gap; the next recovery starts from `lastId` again.
   */
  abortRecovery(): void {
    this.buffer = undefined;
  }

  private accept(message: RoomMessage): boolean {
    if (this.lastId !== undefined && compareMessageIds(message.id, this.lastId) <= 0) return false;
    if (this.isOwn(message)) return false;
    this.lastId = message.id;
    return true;
  }
}

/** A bounded set of recent strings (insertion order; the oldest fall out). */
export class RecentSet {
  private readonly items = new Set<string>();

  constructor(private readonly capacity: number) {}

  add(value: string): void {
    this.items.delete(value);
    this.items.add(value);
    while (this.items.size > this.capacity) {
      const oldest = this.items.values().next().value;
      if (oldest === undefined) break;
      this.items.delete(oldest);
    }
  }

  has(value: string): boolean {
    return this.items.has(value);
  }

  get size(): number {
    return this.items.size;
  }
}
