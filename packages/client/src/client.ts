import { ROOM_NAME_PATTERN, type ConnectionEstablished, type Metadata, type PresenceInfo, type PresenceStatus, type RoomMessage } from '@intelgraph/websocket-protocol';
import { TokenKeeper } from './auth.js';
import { underCallOptions, type CallOptions } from './call.js';
import { Connection, connectionSettings, type Waiter } from './connection.js';
import { Dispatcher } from './dispatch.js';
import { TypedEmitter, type Emit } from './emitter.js';
import { ackError, WebSocketClientError } from './errors.js';
import { newClientMessageId } from './ids.js';
import { CurrentSocket, type TimedSocket } from './link.js';
import { toLogger } from './logger.js';
import { PresenceKeeper } from './presence.js';
import type { Room } from './room.js';
import { RoomRegistry } from './rooms.js';
import { Sender } from './sender.js';
import type { ConnectionState } from './state.js';
import { defaultTimers, type Timers } from './timers.js';
import type { ClientSocket, HistoryOptions, HistoryPage, JoinResult, SendOptions, WebSocketClientEvents, WebSocketClientOptions } from './types.js';

const DEFAULT_QUEUE_SIZE = 1000;
const DEFAULT_ACK_TIMEOUT = 10_000;
const DEFAULT_REFRESH_MARGIN = 30_000;

/**
 * Client of the real-time server: one Socket.IO connection with its own reconnection (full-jitter
 * backoff, server restart hints, several URLs, token renewal), rooms re-joined with gap-free recovery,
 * an offline queue with duplicate-safe resends, and presence helpers.
 */
export class WebSocketClient extends TypedEmitter<WebSocketClientEvents> {
  private readonly timers: Timers;
  private readonly echo: boolean;
  private readonly link: CurrentSocket;
  private readonly auth: TokenKeeper;
  private readonly rooms: RoomRegistry;
  private readonly sender: Sender;
  private readonly presence: PresenceKeeper;
  private readonly dispatch: Dispatcher;
  private readonly connection: Connection;

  constructor(options: WebSocketClientOptions) {
    super();
    const settings = connectionSettings(options);
    this.timers = options.timers ?? defaultTimers;
    this.echo = options.echo === true;
    const log = toLogger(options.logger);
    const emit: Emit<WebSocketClientEvents> = (event, ...args) => this.emit(event, ...args);

    this.link = new CurrentSocket(options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT);
    const onError = (error: WebSocketClientError): void => {
      log.warn(error.message, { code: error.code, room: error.room });
      this.emit('error', error);
    };
    this.auth = new TokenKeeper(options.token, options.getToken, this.link, this.timers, options.tokenRefreshMarginMs ?? DEFAULT_REFRESH_MARGIN, {
      refreshed: (data) => this.emit('token:refreshed', data),
      error: onError,
    });
    this.sender = new Sender(this.link, this.timers, options.queue?.maxSize ?? DEFAULT_QUEUE_SIZE);
    this.rooms = new RoomRegistry(
      this.link,
      {
        deliver: (messages) => {
          for (const message of messages) this.dispatch.deliver(message);
        },
        recoveryFailed: (room) => this.dispatch.recoveryFailed(room),
        error: onError,
        joined: (room, socket) => this.dispatch.loadPresence(room, socket),
        removed: (room, reason, error) => this.dispatch.removed(room, reason, error),
      },
      (message) => this.sender.isOwn(message),
    );
    this.presence = new PresenceKeeper(this.link, this.timers, onError);
    this.dispatch = new Dispatcher(this.link, this.rooms, emit, log);
    this.connection = new Connection(
      settings,
      this.link,
      { auth: this.auth, presence: this.presence, rooms: this.rooms, sender: this.sender, timers: this.timers, log },
      { emit, bound: (socket, current) => this.dispatch.bind(socket, current) },
    );

    // Deferred so that listeners attached right after the constructor see every state change.
    if (options.autoConnect !== false) queueMicrotask(() => this.connect().catch(() => {}));
  }

  // -------------------------------------------------------------------------
  // State

  /** The connection state. */
  get status(): ConnectionState {
    return this.connection.state;
  }

  /** True in the `connected` state. */
  get connected(): boolean {
    return this.connection.state === 'connected';
  }

  /** The last `connection:established` payload. */
  get connectionInfo(): ConnectionEstablished | undefined {
    return this.connection.established;
  }

  /** Why the client is `failed`, when it is. */
  get lastError(): WebSocketClientError | undefined {
    return this.connection.failure;
  }

  /** Messages awaiting the server's acknowledgement (queued or in flight). */
  get queueSize(): number {
    return this.sender.size;
  }

  /** Rooms the client is in, or joins at the next (re)connect. */
  get joinedRooms(): string[] {
    return this.rooms.names();
  }

  /** The id of the last message delivered in `room`. */
  lastMessageId(room: string): string | undefined {
    return this.rooms.lastId(room);
  }

  // -------------------------------------------------------------------------
  // Connection

  /**
   * Starts connecting (no-op when already connecting or connected; while waiting for the next attempt,
   * tries at once). Resolves once connected with rooms re-joined; rejects when the client fails
   * (terminal refusal) or `disconnect()` is called first.
   */
  connect(options?: CallOptions): Promise<void> {
    let waiter: Waiter | undefined;
    return underCallOptions(
      this.timers,
      options,
      () => this.connection.start((w) => (waiter = w)),
      // Only the wait ends: the client goes on connecting (disconnect() stops it).
      () => {
        if (waiter) this.connection.withdraw(waiter);
      },
    );
  }

  /**
   * Closes the connection and ends the session: queued messages, pending joins and `connect()` calls
   * reject with `CLIENT_CLOSED`, and rooms are forgotten (a later `connect()` starts afresh).
   */
  disconnect(): void {
    this.connection.stop();
  }

  // -------------------------------------------------------------------------
  // Rooms and messages

  /**
   * The object for room `name`: the same object for the same name, for the client's whole life. `T` is the
   * payload type expected in the room (not checked at run time). Its calls are those of the client bound
   * to the room; its events are the client's for this room only.
   */
  room<T = unknown>(name: string): Room<T> {
    if (typeof name !== 'string' || !ROOM_NAME_PATTERN.test(name)) throw new WebSocketClientError('INVALID_ROOM', 'Invalid room name', { room: String(name) });
    return this.dispatch.room(name, this) as Room<T>;
  }

  /**
   * Joins `room` and resolves with the join acknowledgement. Before the connection is up the join
   * waits for it. The room is re-joined after every reconnect, with recovery of what was missed. A room
   * already joined is not joined again unless `metadata` is given. A join aborted or timed out through
   * `options` leaves the room (unless another join call for it still waits).
   */
  async joinRoom(room: string, metadata?: Metadata, options?: CallOptions): Promise<JoinResult> {
    if (this.connection.failure) throw this.connection.failure;
    this.checkRoom(room);
    let withdraw: (() => boolean) | undefined;
    return underCallOptions(
      this.timers,
      options,
      () => this.rooms.join(room, metadata, (w) => (withdraw = w)),
      () => {
        if (withdraw?.() && this.rooms.has(room)) this.rooms.leave(room).catch(() => {});
      },
      room,
    );
  }

  /** Leaves `room`: it is no longer re-joined; its queued messages will be refused with `NOT_IN_ROOM`. */
  leaveRoom(room: string, options?: CallOptions): Promise<void> {
    return underCallOptions(this.timers, options, () => this.rooms.leave(room, options?.timeout), undefined, room);
  }

  /**
   * Sends `payload` to `room`. Resolves with the message id once the server acknowledged it; while not
   * connected the message waits in the queue. Messages go out one at a time, in call order. The third
   * argument is `persistent` or the options: `{ persistent, signal, timeout }`; a send aborted or timed
   * out through them leaves the queue (if it was already transmitted, it may still have been delivered).
   */
  sendMessage(room: string, payload: unknown, persistent?: boolean, options?: CallOptions): Promise<string>;
  sendMessage(room: string, payload: unknown, options?: SendOptions): Promise<string>;
  async sendMessage(room: string, payload: unknown, third?: boolean | SendOptions, fourth?: CallOptions): Promise<string> {
    const options: SendOptions = typeof third === 'object' && third !== null ? third : { ...fourth, persistent: third === true };
    if (this.connection.failure) throw this.connection.failure;
    this.checkRoom(room);
    if (!this.rooms.has(room)) throw new WebSocketClientError('NOT_IN_ROOM', 'Join the room before sending to it', { room });
    if (payload === undefined) throw new WebSocketClientError('INVALID_PAYLOAD', 'A payload is required', { room });
    const persistent = options.persistent === true;
    const clientMessageId = newClientMessageId();
    const sent = (): Promise<string> =>
      this.sender.enqueue(room, payload, persistent, clientMessageId).then((id) => {
        if (this.echo) this.echoOwn({ id, room, payload, persistent, clientMessageId });
        return id;
      });
    return underCallOptions(this.timers, options, sent, () => this.sender.withdraw(clientMessageId), room);
  }

  /**
   * A page of the stored messages of `room` (not delivered as `room:message`): oldest first after `since`
   * by default; with `direction: 'backward'`, newest first (before `before`, when given).
   */
  async getHistory(room: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    const { since, before, limit, direction } = options;
    const request = {
      room,
      ...(since !== undefined && { since }),
      ...(before !== undefined && { before }),
      ...(limit !== undefined && { limit }),
      ...(direction !== undefined && { direction }),
    };
    const ack = await this.ask(options, (s) => s.emitWithAck('room:history', request), room);
    if (!ack.success) throw ackError(ack, room);
    return { messages: ack.messages, hasMore: ack.hasMore, recovered: ack.recovered };
  }

  /** Rooms this connection is in, as the server sees them. */
  async queryRooms(options?: CallOptions): Promise<string[]> {
    const ack = await this.ask(options, (s) => s.emitWithAck('query:rooms'));
    if (!ack.success) throw ackError(ack);
    return ack.rooms;
  }

  /** Who is in `room`. */
  async queryPresence(room: string, options?: CallOptions): Promise<PresenceInfo[]> {
    const ack = await this.ask(options, (s) => s.emitWithAck('query:presence', { room }), room);
    if (!ack.success) throw ackError(ack, room);
    return ack.presence;
  }

  // -------------------------------------------------------------------------
  // Presence

  /**
   * Sets this connection's presence status (and metadata, replacing the previous one). Remembered and
   * applied again after every reconnect; while offline it is only remembered. Rejects when the server
   * refuses it. Aborting the call through `options` stops the wait, not the change.
   */
  setPresenceStatus(status: PresenceStatus, metadata?: Metadata, options?: CallOptions): Promise<void> {
    return underCallOptions(this.timers, options, () => this.presence.set(status, metadata));
  }

  // -------------------------------------------------------------------------

  private checkRoom(room: string): void {
    if (typeof room !== 'string' || !ROOM_NAME_PATTERN.test(room)) throw new WebSocketClientError('INVALID_ROOM', 'Invalid room name', { room });
  }

  /** The socket for a request that needs a live connection. */
  private live(): ClientSocket {
    if (this.connection.failure) throw this.connection.failure;
    const socket = this.link.liveSocket();
    if (!socket) throw new WebSocketClientError('NOT_CONNECTED', 'Not connected');
    return socket;
  }

  /** A request that needs a live connection, under the call's options. */
  private ask<T>(options: CallOptions | undefined, send: (timed: TimedSocket) => Promise<T>, room?: string): Promise<T> {
    return underCallOptions(this.timers, options, async () => this.link.request(this.live(), send, options?.timeout), undefined, room);
  }

  /** `echo`: this client's own acknowledged message, delivered to it as others receive it. */
  private echoOwn(sent: { id: string; room: string; payload: unknown; persistent: boolean; clientMessageId: string }): void {
    if (!this.rooms.has(sent.room)) return;
    const message: RoomMessage = {
      id: sent.id,
      room: sent.room,
      from: this.connection.established?.userId ?? '',
      payload: sent.payload,
      timestamp: this.timers.now(),
      clientMessageId: sent.clientMessageId,
      ...(sent.persistent && { persistent: true }),
    };
    this.dispatch.deliver(message);
  }
}
