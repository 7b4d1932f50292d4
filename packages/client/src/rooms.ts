import type { Metadata, RoomMessage } from '@intelgraph/websocket-protocol';
import { ackError, WebSocketClientError } from './errors.js';
import type { Link } from './link.js';
import { RoomSequence } from './recovery.js';
import type { ClientSocket, JoinResult, RoomLeftReason } from './types.js';

/** History page size used when a re-join has more to recover than its acknowledgement holds. */
export const RECOVERY_PAGE = 500;

interface Waiter {
  resolve(value: JoinResult): void;
  reject(error: Error): void;
}

/** A room the application asked to be in. */
interface RoomEntry {
  readonly room: string;
  metadata: Metadata | undefined;
  readonly sequence: RoomSequence;
  /** Joined on the current connection. */
  joined: boolean;
  /** The answer of the last successful join. */
  result: JoinResult | undefined;
  /** `joinRoom` calls waiting for the join acknowledgement. */
  waiters: Waiter[];
}

export interface RoomEvents {
  deliver(messages: readonly RoomMessage[]): void;
  recoveryFailed(room: string): void;
  error(error: WebSocketClientError): void;
  /** A join or re-join of `room` succeeded on `socket`. */
  joined(room: string, socket: ClientSocket): void;
  /** `room` is forgotten: no longer joined, nor re-joined. */
  removed(room: string, reason: RoomLeftReason, error?: WebSocketClientError): void;
}

/** The rooms the client is in: joins, re-joins after reconnects, and gap-free recovery. */
export class RoomRegistry {
  private readonly entries = new Map<string, RoomEntry>();

  constructor(
    private readonly link: Link,
    private readonly events: RoomEvents,
    private readonly isOwn: (message: RoomMessage) => boolean,
  ) {}

  has(room: string): boolean {
    return this.entries.has(room);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  lastId(room: string): string | undefined {
    return this.entries.get(room)?.sequence.lastId;
  }

  /**
   * Joins now when the connection is live, else at the next (re)connect. A room already joined is not
   * joined again unless `metadata` is given (to replace it): the last join's answer is returned.
   * `onWaiter` receives the function that withdraws this call's wait.
   */
  join(room: string, metadata: Metadata | undefined, onWaiter?: (withdraw: () => boolean) => void): Promise<JoinResult> {
    let entry = this.entries.get(room);
    if (!entry) {
      entry = { room, metadata, sequence: new RoomSequence(this.isOwn), joined: false, result: undefined, waiters: [] };
      this.entries.set(room, entry);
    } else if (metadata !== undefined) {
      entry.metadata = metadata;
    } else if (entry.joined && entry.result && entry.waiters.length === 0) {
      return Promise.resolve(entry.result);
    }
    const target = entry;
    const result = new Promise<JoinResult>((resolve, reject) => {
      const waiter = { resolve, reject };
      target.waiters.push(waiter);
      // True when no other call waits for this join any more.
      onWaiter?.(() => {
        const i = target.waiters.indexOf(waiter);
        if (i >= 0) target.waiters.splice(i, 1);
        return target.waiters.length === 0;
      });
    });
    const socket = this.link.liveSocket();
    if (socket) this.joinNow(socket, target);
    return result;
  }

  async leave(room: string, timeoutMs?: number): Promise<void> {
    const entry = this.entries.get(room);
    if (!entry) throw new WebSocketClientError('NOT_IN_ROOM', 'Not in this room', { room });
    this.entries.delete(room);
    entry.sequence.abortRecovery();
    const left = new WebSocketClientError('NOT_IN_ROOM', 'The room was left before the join completed', { room });
    for (const waiter of entry.waiters.splice(0)) waiter.reject(left);
    this.events.removed(room, 'leave');
    const socket = this.link.liveSocket();
    if (!entry.joined || !socket) return;
    const ack = await this.link.request(socket, (s) => s.emitWithAck('room:leave', { room }), timeoutMs);
    if (!ack.success && ack.error !== 'NOT_IN_ROOM') throw ackError(ack, room);
  }

  /**
   * Re-joins every room on a new connection. Answers to waiting `joinRoom` calls are pushed to
   * `defer` (the client answers them once `connected`). Rejects when the connection is lost.
   */
  async rejoinAll(socket: ClientSocket, defer: (() => void)[]): Promise<void> {
    await Promise.all([...this.entries.values()].map((entry) => this.joinOn(socket, entry, defer)));
  }

  /** Joins the rooms asked for while the connection was being resumed. */
  joinPending(socket: ClientSocket): void {
    for (const entry of this.entries.values()) {
      if (!entry.joined && entry.waiters.length > 0) this.joinNow(socket, entry);
    }
  }

  /** A live `room:message`. */
  live(message: RoomMessage): void {
    const entry = this.entries.get(message.room);
    if (entry) this.events.deliver(entry.sequence.live(message));
  }

  /** The connection is gone: every room needs a re-join; running recoveries are abandoned. */
  connectionLost(): void {
    for (const entry of this.entries.values()) {
      entry.joined = false;
      entry.sequence.abortRecovery();
    }
  }

  /** Forgets every room, rejecting waiting `joinRoom` calls. */
  clear(error: WebSocketClientError, reason: RoomLeftReason): void {
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const entry of entries) {
      entry.sequence.abortRecovery();
      for (const waiter of entry.waiters.splice(0)) waiter.reject(error);
    }
    for (const entry of entries) this.events.removed(entry.room, reason, reason === 'failed' ? error : undefined);
  }

  private joinNow(socket: ClientSocket, entry: RoomEntry): void {
    this.joinOn(socket, entry).catch(() => {
      // The connection was lost: the join is retried (and its callers answered) after the reconnect.
    });
  }

  /** Sends `room:join` on `socket` (with `since` when re-joining) and starts the recovery. */
  private async joinOn(socket: ClientSocket, entry: RoomEntry, defer?: (() => void)[]): Promise<void> {
    const { room, sequence } = entry;
    const since = entry.joined ? undefined : sequence.lastId;
    const generation = since !== undefined ? sequence.beginRecovery() : undefined;
    const abort = (): void => {
      if (generation !== undefined && sequence.isRecovery(generation)) sequence.abortRecovery();
    };
    const request = { room, ...(entry.metadata !== undefined && { metadata: entry.metadata }), ...(since !== undefined && { since }) };
    let ack;
    try {
      ack = await this.link.request(socket, (s) => s.emitWithAck('room:join', request));
    } catch (err) {
      abort();
      throw err;
    }
    if (this.entries.get(room) !== entry) {
      // Left while the join was in flight.
      abort();
      if (ack.success && socket.connected) this.link.request(socket, (s) => s.emitWithAck('room:leave', { room })).catch(() => {});
      return;
    }
    if (!ack.success) {
      abort();
      this.entries.delete(room);
      const error = ackError(ack, room);
      const waiters = entry.waiters.splice(0);
      if (waiters.length > 0) for (const waiter of waiters) waiter.reject(error);
      else this.events.error(error);
      this.events.removed(room, 'refused', error);
      return;
    }
    entry.joined = true;
    // A room joined before any message reached it still gets a position to recover from after a reconnect.
    if (ack.lastId !== undefined && sequence.lastId === undefined) sequence.lastId = ack.lastId;
    const result: JoinResult = { room };
    if (ack.messages !== undefined) result.messages = ack.messages;
    if (ack.recovered !== undefined) result.recovered = ack.recovered;
    if (ack.hasMore !== undefined) result.hasMore = ack.hasMore;
    entry.result = result;
    this.events.joined(room, socket);
    const answer = (): void => {
      for (const waiter of entry.waiters.splice(0)) waiter.resolve(result);
    };
    if (defer) defer.push(answer);
    else answer();
    if (generation !== undefined) void this.recover(socket, entry, generation, result);
  }

  /** Delivers what a re-join recovered, pages the rest with `room:history`, then the held-back live messages. */
  private async recover(socket: ClientSocket, entry: RoomEntry, generation: number, ack: JoinResult): Promise<void> {
    const { room, sequence } = entry;
    const active = (): boolean => this.entries.get(room) === entry && sequence.isRecovery(generation);
    let complete = ack.recovered !== false;
    if (!complete) this.events.recoveryFailed(room);
    let page = ack.messages ?? [];
    let hasMore = ack.hasMore === true;
    this.events.deliver(sequence.recovered(page));
    while (hasMore && page.length > 0 && active()) {
      const since = (page[page.length - 1] as RoomMessage).id;
      let next;
      try {
        next = await this.link.request(socket, (s) => s.emitWithAck('room:history', { room, since, limit: RECOVERY_PAGE }));
      } catch {
        // Connection lost: the next re-join recovers from the last delivered id.
        if (sequence.isRecovery(generation)) sequence.abortRecovery();
        return;
      }
      if (!active()) return;
      if (!next.success) {
        this.events.error(ackError(next, room));
        if (complete) this.events.recoveryFailed(room);
        complete = false;
        break;
      }
      page = next.messages;
      hasMore = next.hasMore;
      this.events.deliver(sequence.recovered(page));
    }
    if (active()) this.events.deliver(sequence.endRecovery());
  }
}
