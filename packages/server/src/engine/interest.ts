import { roomKeyString, type RoomKey } from './types.js';

/** Rooms this instance has local members in, counted per `subscribe`: a stream without pub/sub delivers these only. */
export class LocalInterest {
  private readonly counts = new Map<string, number>();

  add(key: RoomKey): void {
    const k = roomKeyString(key);
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  remove(key: RoomKey): void {
    const k = roomKeyString(key);
    const n = (this.counts.get(k) ?? 0) - 1;
    if (n > 0) this.counts.set(k, n);
    else this.counts.delete(k);
  }

  has(key: RoomKey): boolean {
    return this.counts.has(roomKeyString(key));
  }

  get size(): number {
    return this.counts.size;
  }
}
