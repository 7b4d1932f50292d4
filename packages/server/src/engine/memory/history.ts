import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { formatMessageId, initialSequence, newEpoch, parseMessageId } from '../ids.js';
import {
  roomKeyString,
  type AppendOptions,
  type AppendResult,
  type HistoryPage,
  type HistoryStore,
  type NewMessage,
  type Retention,
  type RoomKey,
} from '../types.js';

interface Stored {
  seq: number;
  message: RoomMessage;
  expiresAt: number;
}

interface RoomLog {
  epoch: string;
  lastSeq: number;
  /** Highest sequence of a stored message removed by trimming or expiry. */
  droppedUpTo: number;
  /**
   * Stored messages by seq from `head` on; the slots before `head` held messages dropped since and are
   * cleared (the array is compacted now and then, not on every drop).
   */
  messages: (Stored | undefined)[];
  head: number;
  /** The room's state is forgotten after this time when it holds no message. */
  idleUntil: number;
}

/** History kept in this process: lost on restart, which the new epoch makes visible to recovering clients. */
export class MemoryHistoryStore implements HistoryStore {
  private readonly rooms = new Map<string, RoomLog>();
  private readonly seen = new Map<string, { message: RoomMessage; expiresAt: number }>();

  constructor(
    private readonly retention: Retention,
    private readonly clock: () => number = Date.now,
  ) {}

  async append(key: RoomKey, msg: NewMessage, opts: AppendOptions): Promise<AppendResult> {
    return this.appendSync(key, msg, opts);
  }

  /** Synchronous append: ids are assigned in call order. */
  appendSync(key: RoomKey, msg: NewMessage, opts: AppendOptions): AppendResult {
    const now = this.clock();
    const k = roomKeyString(key);
    let dedupeKey: string | undefined;
    if (msg.clientMessageId !== undefined) {
      dedupeKey = `${k}\u0000${msg.from}\u0000${msg.clientMessageId}`;
      const prior = this.seen.get(dedupeKey);
      if (prior && prior.expiresAt > now) return { message: prior.message, duplicate: true };
    }
    const log = this.logOf(k, now);
    const seq = ++log.lastSeq;
    const message: RoomMessage = {
      id: formatMessageId(seq, log.epoch),
      room: key.room,
      from: msg.from,
      payload: msg.payload,
      timestamp: msg.timestamp,
    };
    if (opts.persistent) message.persistent = true;
    if (msg.clientMessageId !== undefined) message.clientMessageId = msg.clientMessageId;
    const ttlMs = this.retention.ttlSeconds * 1000;
    log.idleUntil = now + Math.max(ttlMs, 60_000);
    if (opts.persistent && this.retention.maxMessages > 0) {
      log.messages.push({ seq, message, expiresAt: now + ttlMs });
      this.prune(log, now);
    }
    if (dedupeKey !== undefined) {
      this.seen.set(dedupeKey, { message, expiresAt: now + this.retention.dedupeWindowSeconds * 1000 });
    }
    return { message, duplicate: false };
  }

  async read(key: RoomKey, opts: { since?: string; limit: number }): Promise<HistoryPage> {
    const now = this.clock();
    const log = this.rooms.get(roomKeyString(key));
    if (log) this.prune(log, now);
    const limit = Math.max(1, opts.limit);
    if (opts.since === undefined) {
      if (!log) return { messages: [], hasMore: false, recovered: true };
      const page = log.messages.slice(log.head, log.head + limit).map((s) => (s as Stored).message);
      return { messages: page, hasMore: log.messages.length - log.head > limit, recovered: true };
    }
    const since = parseMessageId(opts.since);
    if (!log) return { messages: [], hasMore: false, recovered: false };
    let recovered = false;
    let after = 0;
    if (since && since.epoch === log.epoch) {
      recovered = since.seq >= log.droppedUpTo && since.seq <= log.lastSeq;
      after = since.seq;
    }
    const start = firstAfter(log.messages, log.head, after);
    const page = log.messages.slice(start, start + limit).map((s) => (s as Stored).message);
    return { messages: page, hasMore: log.messages.length - start > limit, recovered };
  }

  async head(key: RoomKey): Promise<string> {
    const log = this.logOf(roomKeyString(key), this.clock());
    return formatMessageId(log.lastSeq, log.epoch);
  }

  private logOf(k: string, now: number): RoomLog {
    let log = this.rooms.get(k);
    if (!log) {
      log = { epoch: newEpoch(), lastSeq: initialSequence(now) - 1, droppedUpTo: 0, messages: [], head: 0, idleUntil: now + Math.max(this.retention.ttlSeconds * 1000, 60_000) };
      this.rooms.set(k, log);
    }
    return log;
  }

  async size(): Promise<number> {
    let n = 0;
    for (const log of this.rooms.values()) n += log.messages.length - log.head;
    return n;
  }

  /** Drops expired messages, duplicate-window entries and idle rooms. */
  sweep(): void {
    const now = this.clock();
    for (const [k, log] of this.rooms) {
      this.prune(log, now);
      if (log.messages.length === log.head && log.idleUntil <= now) this.rooms.delete(k);
    }
    for (const [k, v] of this.seen) if (v.expiresAt <= now) this.seen.delete(k);
  }

  private prune(log: RoomLog, now: number): void {
    const max = this.retention.maxMessages;
    const { messages } = log;
    let head = log.head;
    let last: Stored | undefined;
    while (head < messages.length && (messages.length - head > max || (messages[head] as Stored).expiresAt <= now)) {
      last = messages[head];
      messages[head++] = undefined;
    }
    if (!last) return;
    log.droppedUpTo = Math.max(log.droppedUpTo, last.seq);
    // Dropped entries are cut off once they are as many as the kept ones (and on emptying): each append
    // past the limit drops one message, and moving the kept ones on every drop would cost O(limit) each time.
    if (head === messages.length) {
      messages.length = 0;
      head = 0;
    } else if (head >= messages.length - head) {
      messages.splice(0, head);
      head = 0;
    }
    log.head = head;
  }
}

/** Index of the first stored message from `from` on with seq > after (messages are sorted by seq). */
function firstAfter(messages: readonly (Stored | undefined)[], from: number, after: number): number {
  let lo = from;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((messages[mid] as Stored).seq <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
