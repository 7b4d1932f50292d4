import type { Metadata, PresenceInfo, PresenceJoin, PresenceLeave, PresenceUpdate, RoomMessage } from '@intelgraph/websocket-protocol';
import type { CallOptions } from './call.js';
import { TypedEmitter } from './emitter.js';
import { WebSocketClientError } from './errors.js';
import type { HistoryOptions, HistoryPage, JoinResult, RecoveryFailed, RoomEvents, RoomLeaving, SendOptions } from './types.js';

/** What a room object asks of its client. */
export interface RoomHost {
  joinRoom(room: string, metadata?: Metadata, options?: CallOptions): Promise<JoinResult>;
  leaveRoom(room: string, options?: CallOptions): Promise<void>;
  sendMessage(room: string, payload: unknown, options?: SendOptions): Promise<string>;
  getHistory(room: string, options?: HistoryOptions): Promise<HistoryPage>;
  readonly joinedRooms: string[];
  lastMessageId(room: string): string | undefined;
}

export interface MessageIteratorOptions {
  /** Messages held for a slow reader at most; one more ends the iteration with `BUFFER_OVERFLOW`. Default 1000. */
  bufferSize?: number;
}

const DEFAULT_ITERATOR_BUFFER = 1000;
const EMPTY_PRESENCE: ReadonlyMap<string, PresenceInfo> = new Map();

/**
 * One room of a client (`client.room<T>(name)`, the same object for the same name): its calls, its
 * events, who is in it, and its messages as an async iterable. `T` is the payload type the application
 * expects in this room; it is not checked at run time.
 */
export class Room<T = unknown> extends TypedEmitter<RoomEvents<T>> {
  private members: ReadonlyMap<string, PresenceInfo> = EMPTY_PRESENCE;

  constructor(
    readonly name: string,
    private readonly host: RoomHost,
  ) {
    super();
  }

  /** True while the client is in the room, or joins it at the next (re)connect. */
  get joined(): boolean {
    return this.host.joinedRooms.includes(this.name);
  }

  /** The id of the last message delivered in this room. */
  get lastMessageId(): string | undefined {
    return this.host.lastMessageId(this.name);
  }

  /**
   * Who is in the room, by user id: loaded after every join and re-join, then kept up to date from
   * presence events. Each change replaces the map (a new object), so it can be compared by identity.
   */
  get presence(): ReadonlyMap<string, PresenceInfo> {
    return this.members;
  }

  /**
   * Joins the room (waiting for the connection if needed); it is re-joined after every reconnect.
   * Joining a room already joined resolves at once, unless `metadata` is given (it replaces the old one).
   */
  join(metadata?: Metadata, options?: CallOptions): Promise<JoinResult<T>> {
    return this.host.joinRoom(this.name, metadata, options) as Promise<JoinResult<T>>;
  }

  /** Leaves the room; resolves at once when the client is not in it. */
  async leave(options?: CallOptions): Promise<void> {
    if (!this.joined) return;
    try {
      await this.host.leaveRoom(this.name, options);
    } catch (err) {
      // Left meanwhile by another call: that is what was asked.
      if (!(err instanceof WebSocketClientError && err.code === 'NOT_IN_ROOM')) throw err;
    }
  }

  /** Sends a message to the room (see `sendMessage`); resolves with its id once acknowledged. */
  send(payload: T, options?: SendOptions): Promise<string> {
    return this.host.sendMessage(this.name, payload, options);
  }

  /**
   * A page of the room's stored messages: `{ direction: 'backward', limit: 50 }` for the newest 50 (newest
   * first), then `before` the oldest of them for the page before; `since` reads forward from an id.
   */
  history(options?: HistoryOptions): Promise<HistoryPage<T>> {
    return this.host.getHistory(this.name, options) as Promise<HistoryPage<T>>;
  }

  /**
   * The room's messages as they are delivered (as the `message` event), from now on. The iteration ends
   * when the room is left (`left`: `leave()`, `disconnect()`, a refusal or the client failing), not on a
   * connection loss (the room is recovered after the reconnect). A reader slower than the messages gets
   * the `bufferSize` messages held for it, then the iteration throws `BUFFER_OVERFLOW` rather than
   * skip any: read what was missed with `history({ since })` from the last id seen.
   */
  messages(options: MessageIteratorOptions = {}): AsyncIterableIterator<RoomMessage<T>> {
    const bufferSize = options.bufferSize ?? DEFAULT_ITERATOR_BUFFER;
    if (!(Number.isInteger(bufferSize) && bufferSize > 0)) throw new TypeError('bufferSize must be a positive integer');
    const buffer: RoomMessage<T>[] = [];
    // Set only while the buffer is empty, so an overflow never happens while a reader waits.
    let waiting: ((result: IteratorResult<RoomMessage<T>>) => void) | undefined;
    let ended = false;
    let overflow: WebSocketClientError | undefined;
    const stop = (): void => {
      ended = true;
      offMessage();
      offLeft();
    };
    const offMessage = this.on('message', (message) => {
      if (waiting) {
        const resolve = waiting;
        waiting = undefined;
        resolve({ value: message, done: false });
      } else if (buffer.length < bufferSize) {
        buffer.push(message);
      } else {
        overflow = new WebSocketClientError('BUFFER_OVERFLOW', `${bufferSize} messages were waiting to be read`, { room: this.name });
        stop();
      }
    });
    const offLeft = this.on('left', () => {
      stop();
      if (waiting) {
        const resolve = waiting;
        waiting = undefined;
        resolve({ value: undefined, done: true });
      }
    });
    const iterator: AsyncIterableIterator<RoomMessage<T>> = {
      next: () => {
        const message = buffer.shift();
        if (message) return Promise.resolve({ value: message, done: false });
        if (overflow) {
          const error = overflow;
          overflow = undefined;
          return Promise.reject(error);
        }
        if (ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise<IteratorResult<RoomMessage<T>>>((resolve) => (waiting = resolve));
      },
      return: () => {
        stop();
        buffer.length = 0;
        overflow = undefined;
        waiting?.({ value: undefined, done: true });
        waiting = undefined;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** `for await (const message of room)`: the same as `room.messages()`. */
  [Symbol.asyncIterator](): AsyncIterableIterator<RoomMessage<T>> {
    return this.messages();
  }

  // ---------------------------------------------------------------------------
  // Called by the client

  /** @internal */
  deliver(message: RoomMessage): void {
    this.emit('message', message as RoomMessage<T>);
  }

  /** @internal */
  recoveryFailed(data: RecoveryFailed): void {
    this.emit('recovery-failed', data);
  }

  /** @internal */
  left(data: RoomLeaving): void {
    this.setPresence(EMPTY_PRESENCE);
    this.emit('left', data);
  }

  /** @internal The whole presence of the room, as `query:presence` returned it. */
  presenceLoaded(list: readonly PresenceInfo[]): void {
    this.setPresence(new Map(list.map((p) => [p.userId, p])));
  }

  /** @internal */
  presenceEvent(event: { join: PresenceJoin } | { update: PresenceUpdate } | { leave: PresenceLeave }): void {
    const next = new Map(this.members);
    if ('join' in event) next.set(event.join.user.userId, event.join.user);
    else if ('update' in event) for (const p of event.update.presence) next.set(p.userId, p);
    else if (!next.delete(event.leave.userId)) return;
    this.setPresence(next);
  }

  private setPresence(next: ReadonlyMap<string, PresenceInfo>): void {
    if (next === this.members) return;
    this.members = next;
    this.emit('presence', next);
  }
}
