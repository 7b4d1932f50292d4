import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { LocalInterest } from '../interest.js';
import { formatMessageId, initialSequence, newEpoch, NO_HISTORY_EPOCH, parseMessageId } from '../ids.js';
import { throwIfRefused } from '../rate-refused.js';
import {
  roomKeyString,
  type Deliver,
  type HistoryPage,
  type NewMessage,
  type PublishOptions,
  type Published,
  type ReadQuery,
  type Retention,
  type RoomKey,
  type RoomStream,
} from '../types.js';
import type { MemoryRateLimiter } from './rate-limiter.js';

interface Stored {
  seq: number;
  message: RoomMessage;
  expiresAt: number;
}

interface RoomLog {
  epoch: string;
  /** Sequence of this history's first message. */
  start: number;
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

/**
 * The embedded engine's room stream: history in this process (lost on restart, which the new epoch
 * makes visible to recovering clients), delivery to this process's members of the rooms subscribed to.
 * Every publish runs to completion synchronously (buckets, append, delivery), so ids are assigned and
 * delivered in call order.
 */
export class MemoryRoomStream implements RoomStream {
  private readonly rooms = new Map<string, RoomLog>();
  private readonly seen = new Map<string, { message: RoomMessage; expiresAt: number }>();
  private deliver: Deliver = () => {};
  private readonly interest = new LocalInterest();
  private readonly idleMs: number;

  constructor(
    private readonly retention: Retention,
    private readonly limiter: Pick<MemoryRateLimiter, 'consumeAllSync'>,
    private readonly clock: () => number = Date.now,
  ) {
    this.idleMs = Math.max(retention.ttlSeconds * 1000, 60_000);
  }

  async publish(key: RoomKey, msg: NewMessage, opts: PublishOptions): Promise<Published> {
    if (opts.limits) throwIfRefused(this.limiter.consumeAllSync(opts.limits.group, opts.limits.buckets));
    const result = this.append(key, msg, opts.persistent);
    if (!result.duplicate && this.interest.has(key)) this.deliver(key, result.message, opts.exceptConnectionId);
    return result;
  }

  private append(key: RoomKey, msg: NewMessage, persistent: boolean): Published {
    const now = this.clock();
    const k = roomKeyString(key);
    let dedupeKey: string | undefined;
    if (msg.clientMessageId !== undefined) {
      dedupeKey = `${k}\u0000${msg.from}\u0000${msg.clientMessageId}`;
      const prior = this.seen.get(dedupeKey);
      if (prior && prior.expiresAt > now) return { message: prior.message, duplicate: true };
    }
    let log = this.rooms.get(k);
    if (!log) {
      const start = initialSequence(now);
      log = { epoch: newEpoch(), start, lastSeq: start - 1, droppedUpTo: 0, messages: [], head: 0, idleUntil: 0 };
      this.rooms.set(k, log);
    }
    const seq = ++log.lastSeq;
    const message: RoomMessage = {
      id: formatMessageId(seq, log.epoch),
      room: key.room,
      from: msg.from,
      payload: msg.payload,
      timestamp: msg.timestamp,
    };
    if (persistent) message.persistent = true;
    if (msg.clientMessageId !== undefined) message.clientMessageId = msg.clientMessageId;
    const ttlMs = this.retention.ttlSeconds * 1000;
    log.idleUntil = now + this.idleMs;
    if (persistent && this.retention.maxMessages > 0) {
      log.messages.push({ seq, message, expiresAt: now + ttlMs });
      this.prune(log, now);
    }
    if (dedupeKey !== undefined) {
      this.seen.set(dedupeKey, { message, expiresAt: now + this.retention.dedupeWindowSeconds * 1000 });
    }
    return { message, duplicate: false };
  }

  async read(key: RoomKey, query: ReadQuery): Promise<HistoryPage> {
    const now = this.clock();
    const log = this.rooms.get(roomKeyString(key));
    const since = query.since === undefined ? undefined : parseMessageId(query.since);
    const mark = since?.epoch === NO_HISTORY_EPOCH ? since.seq : undefined;
    if (!log) {
      const recovered = query.since === undefined || (mark !== undefined && initialSequence(now) - mark < this.idleMs * 1000);
      return { messages: [], hasMore: false, recovered };
    }
    this.prune(log, now);
    let recovered = query.since === undefined;
    let after = 0;
    if (mark !== undefined) {
      recovered = log.start > mark && log.droppedUpTo === 0;
      after = mark;
    } else if (since && since.epoch === log.epoch) {
      recovered = since.seq >= log.droppedUpTo && since.seq <= log.lastSeq;
      after = since.seq;
    }
    const before = query.before === undefined ? undefined : parseMessageId(query.before);
    const limit = Math.max(1, query.limit);
    const from = firstAfter(log.messages, log.head, after);
    const to = before ? firstAfter(log.messages, from, before.seq - 1) : log.messages.length;
    const take = Math.min(limit, to - from);
    const slots = query.direction === 'backward' ? log.messages.slice(to - take, to).reverse() : log.messages.slice(from, from + take);
    return { messages: slots.map((s) => (s as Stored).message), hasMore: to - from > limit, recovered };
  }

  async head(key: RoomKey): Promise<string> {
    const log = this.rooms.get(roomKeyString(key));
    if (log) return formatMessageId(log.lastSeq, log.epoch);
    return formatMessageId(initialSequence(this.clock()) - 1, NO_HISTORY_EPOCH);
  }

  async subscribe(key: RoomKey): Promise<void> {
    this.interest.add(key);
  }

  async unsubscribe(key: RoomKey): Promise<void> {
    this.interest.remove(key);
  }

  onMessage(deliver: Deliver): void {
    this.deliver = deliver;
  }

  async size(): Promise<number> {
    let n = 0;
    for (const log of this.rooms.values()) n += log.messages.length - log.head;
    return n;
  }

  /** Rooms with history state (for tests of what a client can make the server keep). */
  roomsHeld(): number {
    return this.rooms.size;
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
