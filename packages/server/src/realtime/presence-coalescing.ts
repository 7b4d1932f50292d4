import { roomKeyString, type PresenceChange } from '../engine/types.js';

type Update = Extract<PresenceChange, { kind: 'update' }>;

interface Slot {
  /** When this user's last update in this room went out. */
  at: number;
  /** The newest update held back, sent when the interval has passed. */
  pending: Update | undefined;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Presence updates of one user in one room go out at most once per `intervalMs`: the first at once,
 * later ones within the interval are held and only the newest of them is sent when it ends. A client
 * flipping its status as fast as it may costs each watcher a few events per second, not one per
 * change. A join or a leave of that user in that room goes out at once and drops a held update (it
 * described the user before).
 */
export class UpdateCoalescer {
  private readonly slots = new Map<string, Slot>();
  private readonly sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly send: (change: Update) => void,
    private readonly clock: () => number = Date.now,
  ) {
    if (intervalMs > 0) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(1000, intervalMs * 4));
      this.sweeper.unref();
    }
  }

  update(change: Update): void {
    if (this.intervalMs <= 0) return this.send(change);
    const key = slotKey(change, change.user.userId);
    const now = this.clock();
    const slot = this.slots.get(key);
    if (!slot || (slot.pending === undefined && now - slot.at >= this.intervalMs)) {
      this.slots.set(key, { at: now, pending: undefined, timer: undefined });
      return this.send(change);
    }
    slot.pending = change;
    if (!slot.timer) {
      slot.timer = setTimeout(() => this.flush(key), Math.max(0, slot.at + this.intervalMs - now));
      slot.timer.unref();
    }
  }

  /** A join or leave of the user in the room: a held update is stale. */
  drop(change: PresenceChange, userId: string): void {
    const key = slotKey(change, userId);
    const slot = this.slots.get(key);
    if (!slot) return;
    if (slot.timer) clearTimeout(slot.timer);
    this.slots.delete(key);
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const slot of this.slots.values()) if (slot.timer) clearTimeout(slot.timer);
    this.slots.clear();
  }

  private flush(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    slot.timer = undefined;
    const change = slot.pending;
    slot.pending = undefined;
    if (!change) return;
    slot.at = this.clock();
    this.send(change);
  }

  /** Forgets users whose last update is older than the interval and hold nothing back. */
  private sweep(): void {
    const now = this.clock();
    for (const [key, slot] of this.slots) {
      if (slot.pending === undefined && now - slot.at >= this.intervalMs) this.slots.delete(key);
    }
  }
}

function slotKey(change: PresenceChange, userId: string): string {
  return `${roomKeyString(change.key)}\u0000${userId}`;
}
