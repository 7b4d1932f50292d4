import {
  reconnectAdvice,
  ROOM_NAME_PATTERN,
  type ConnectionEstablished,
  type Metadata,
  type PresenceInfo,
  type PresenceStatus,
  type RoomMessage,
} from '@intelgraph/websocket-protocol';
import { io } from 'socket.io-client';
import { TokenKeeper } from './auth.js';
import { backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { underCallOptions, type CallOptions } from './call.js';
import { TypedEmitter } from './emitter.js';
import { ackError, classifyConnectError, WebSocketClientError } from './errors.js';
import { newClientMessageId } from './ids.js';
import { acknowledged, type Link, type TimedSocket } from './link.js';
import { toLogger, type Logger } from './logger.js';
import { onNetworkOnline } from './online.js';
import { PresenceKeeper } from './presence.js';
import { Room } from './room.js';
import { RoomRegistry } from './rooms.js';
import { Sender } from './sender.js';
import { lossReason, StateMachine, type ConnectionState } from './state.js';
import { defaultTimers, type TimerHandle, type Timers } from './timers.js';
import type {
  ClientSocket,
  HistoryOptions,
  HistoryPage,
  JoinResult,
  RoomLeftReason,
  SendOptions,
  SocketFactory,
  Transport,
  WebSocketClientEvents,
  WebSocketClientOptions,
} from './types.js';

const DEFAULT_QUEUE_SIZE = 1000;
const DEFAULT_ACK_TIMEOUT = 10_000;
const DEFAULT_CONNECT_TIMEOUT = 20_000;
const DEFAULT_REFRESH_MARGIN = 30_000;

const defaultSocketFactory: SocketFactory = (url, options) => io(url, options);

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Client of the real-time server: one Socket.IO connection with its own reconnection (full-jitter
 * backoff, server restart hints, several URLs, token renewal), rooms re-joined with gap-free recovery,
 * an offline queue with duplicate-safe resends, and presence helpers.
 */
export class WebSocketClient extends TypedEmitter<WebSocketClientEvents> {
  private readonly urls: readonly string[];
  private readonly tenantId: string | undefined;
  private readonly backoffOptions: BackoffOptions;
  private readonly ackTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly heartbeatIntervalMs: number | undefined;
  private readonly idleTimeoutMs: number | undefined;
  private readonly transports: Transport[];
  private readonly path: string | undefined;
  private readonly timers: Timers;
  private readonly socketFactory: SocketFactory;
  private readonly maxReconnectAttempts: number;
  private readonly echo: boolean;
  private readonly log: Logger;
  /** Room objects handed out by `room()`, by name. */
  private readonly roomObjects = new Map<string, Room<unknown>>();

  private readonly machine: StateMachine;
  private readonly link: Link;
  private readonly auth: TokenKeeper;
  private readonly rooms: RoomRegistry;
  private readonly sender: Sender;
  private readonly presence: PresenceKeeper;

  private socket: ClientSocket | undefined;
  /** Connected and rooms re-joined: requests and sends go out directly. */
  private ready = false;
  /** Changes on every connect(), disconnect() and failure, so stale continuations stop. */
  private session = 0;
  private urlIndex = 0;
  private failures = 0;
  private restartDelay: number | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private established: ConnectionEstablished | undefined;
  private failure: WebSocketClientError | undefined;
  private connectWaiters: Waiter[] = [];
  private stopOnlineListener: (() => void) | undefined;

  constructor(options: WebSocketClientOptions) {
    super();
    const urls = [...(options.url !== undefined ? [options.url] : []), ...(options.urls ?? [])];
    if (urls.length === 0) throw new TypeError('WebSocketClient needs a url (or urls)');
    this.urls = urls;
    this.tenantId = options.tenantId;
    this.backoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs;
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.transports = options.transports ?? ['websocket', 'polling'];
    this.path = options.path;
    this.timers = options.timers ?? defaultTimers;
    this.socketFactory = options.socketFactory ?? defaultSocketFactory;
    const max = options.maxReconnectAttempts ?? Infinity;
    if (!(max >= 0)) throw new TypeError('maxReconnectAttempts must be a number >= 0');
    this.maxReconnectAttempts = max;
    this.echo = options.echo === true;
    this.log = toLogger(options.logger);

    this.machine = new StateMachine((change) => {
      this.log.info(`connection ${change.newState}`, { from: change.oldState, reason: change.reason });
      this.emit('status:change', change.newState, change);
    });
    this.link = {
      liveSocket: () => (this.ready ? this.socket : undefined),
      currentSocket: () => this.socket,
      request: <T>(socket: ClientSocket, send: (timed: TimedSocket) => Promise<T>, timeoutMs?: number) =>
        acknowledged(socket, timeoutMs ?? this.ackTimeoutMs, send),
    };
    const onError = (error: WebSocketClientError): void => {
      this.log.warn(error.message, { code: error.code, room: error.room });
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
          for (const message of messages) this.deliver(message);
        },
        recoveryFailed: (room) => {
          this.log.warn('messages missed while offline could not all be recovered', { room });
          this.emit('room:recovery-failed', { room });
          this.roomObjects.get(room)?.recoveryFailed({ room });
        },
        error: onError,
        joined: (room, socket) => this.loadPresence(room, socket),
        removed: (room, reason, error) => this.roomRemoved(room, reason, error),
      },
      (message) => this.sender.isOwn(message),
    );
    this.presence = new PresenceKeeper(this.link, this.timers, onError);

    // Deferred so that listeners attached right after the constructor see every state change.
    if (options.autoConnect !== false) queueMicrotask(() => this.connect().catch(() => {}));
  }

  // -------------------------------------------------------------------------
  // State

  /** The connection state. */
  get status(): ConnectionState {
    return this.machine.state;
  }

  /** True in the `connected` state. */
  get connected(): boolean {
    return this.machine.state === 'connected';
  }

  /** The last `connection:established` payload. */
  get connectionInfo(): ConnectionEstablished | undefined {
    return this.established;
  }

  /** Why the client is `failed`, when it is. */
  get lastError(): WebSocketClientError | undefined {
    return this.failure;
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
      () => this.startConnecting((w) => (waiter = w)),
      // Only the wait ends: the client goes on connecting (disconnect() stops it).
      () => {
        const i = waiter ? this.connectWaiters.indexOf(waiter) : -1;
        if (i >= 0) this.connectWaiters.splice(i, 1);
      },
    );
  }

  private startConnecting(onWaiter: (waiter: Waiter) => void): Promise<void> {
    const state = this.machine.state;
    if (state === 'connected') return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      this.connectWaiters.push(waiter);
      onWaiter(waiter);
    });
    if (state === 'disconnected' || state === 'failed') {
      this.session++;
      this.failure = undefined;
      this.failures = 0;
      this.urlIndex = 0;
      this.machine.setState('connecting', { reason: 'connect' });
      this.presence.startIdleDetection(this.idleTimeoutMs);
      // Browsers: when the network comes back, try at once instead of waiting for the backoff.
      this.stopOnlineListener ??= onNetworkOnline(() => {
        if (this.reconnectTimer !== undefined) this.connect().catch(() => {});
      });
      void this.openSocket();
    } else if (this.reconnectTimer !== undefined) {
      this.clearReconnectTimer();
      void this.openSocket();
    }
    return promise;
  }

  /**
   * Closes the connection and ends the session: queued messages, pending joins and `connect()` calls
   * reject with `CLIENT_CLOSED`, and rooms are forgotten (a later `connect()` starts afresh).
   */
  disconnect(): void {
    this.session++;
    this.teardown();
    this.failure = undefined;
    this.abandonAll(new WebSocketClientError('CLIENT_CLOSED', 'disconnect() was called'), 'disconnect');
    if (this.machine.state !== 'disconnected') this.machine.setState('disconnected', { reason: 'io client disconnect' });
  }

  private async openSocket(): Promise<void> {
    this.reconnectTimer = undefined;
    const session = this.session;
    if (!this.retrying(session)) return;
    if (this.auth.needsRenewal()) {
      try {
        await this.auth.renew();
      } catch (err) {
        if (!this.retrying(session)) return;
        this.emit('connect_error', err as WebSocketClientError);
        this.scheduleReconnect();
        return;
      }
      if (!this.retrying(session)) return;
    }
    const url = this.urls[this.urlIndex % this.urls.length] as string;
    this.log.debug('connection attempt', { url, attempt: this.failures });
    const socket = this.socketFactory(url, {
      forceNew: true,
      reconnection: false,
      autoConnect: false,
      transports: this.transports,
      timeout: this.connectTimeoutMs,
      ...(this.path !== undefined && { path: this.path }),
      auth: (cb: (data: object) => void) => cb(this.handshakeAuth()),
    });
    this.socket = socket;
    this.bind(socket);
    socket.connect();
  }

  private retrying(session: number): boolean {
    const state = this.machine.state;
    return session === this.session && (state === 'connecting' || state === 'reconnecting');
  }

  private handshakeAuth(): { token?: string; tenantId?: string } {
    const auth: { token?: string; tenantId?: string } = {};
    const token = this.auth.current;
    if (token !== undefined) auth.token = token;
    if (this.tenantId !== undefined) auth.tenantId = this.tenantId;
    return auth;
  }

  private bind(socket: ClientSocket): void {
    const current = (): boolean => socket === this.socket;
    socket.on('connect', () => current() && void this.resume(socket));
    socket.on('connect_error', (err) => current() && this.onConnectError(socket, err));
    socket.on('disconnect', (reason) => current() && this.onDisconnect(socket, reason));
    socket.on('connection:established', (data) => current() && this.onEstablished(socket, data));
    socket.on('room:message', (message: RoomMessage) => {
      if (current() && typeof message?.id === 'string' && typeof message.room === 'string') this.rooms.live(message);
    });
    socket.on('system:restart', (data) => {
      if (!current()) return;
      if (typeof data?.reconnectIn === 'number' && data.reconnectIn >= 0) this.restartDelay = data.reconnectIn;
      this.emit('system:restart', data);
    });
    socket.on('system:error', (data) => {
      if (!current()) return;
      if (data?.code === 'AUTH_EXPIRED') this.auth.markStale();
      this.emit('system:error', data);
    });
    socket.on('room:joined', (data) => current() && this.emit('room:joined', data));
    socket.on('room:left', (data) => current() && this.emit('room:left', data));
    socket.on('presence:join', (data) => {
      if (!current()) return;
      this.emit('presence:join', data);
      if (typeof data?.user?.userId === 'string') this.roomObjects.get(data.room)?.presenceEvent({ join: data });
    });
    socket.on('presence:update', (data) => {
      if (!current()) return;
      this.emit('presence:update', data);
      if (Array.isArray(data?.presence)) this.roomObjects.get(data.room)?.presenceEvent({ update: data });
    });
    socket.on('presence:leave', (data) => {
      if (!current()) return;
      this.emit('presence:leave', data);
      if (typeof data?.userId === 'string') this.roomObjects.get(data.room)?.presenceEvent({ leave: data });
    });
  }

  private onConnectError(socket: ClientSocket, err: unknown): void {
    const target = { url: this.urls[this.urlIndex % this.urls.length] as string, path: this.path, extraHeaders: socket.io.opts.extraHeaders };
    this.dropSocket(socket);
    const session = this.session;
    void classifyConnectError(err, target).then((error) => session === this.session && this.onConnectFailure(error));
  }

  private onConnectFailure(error: WebSocketClientError): void {
    this.log.warn('connection attempt failed', { code: error.code, detail: error.message });
    this.emit('connect_error', error);
    if (error.code === 'ORIGIN_NOT_ALLOWED') return this.fail(error);
    const advice = reconnectAdvice(error.code);
    if (advice === 'stop') return this.fail(error);
    if (advice === 'renew') {
      if (!this.auth.renewable) return this.fail(error);
      this.auth.markStale();
    }
    this.urlIndex++;
    this.scheduleReconnect(error.retryAfterMs);
  }

  private onDisconnect(socket: ClientSocket, reason: string): void {
    this.dropSocket(socket);
    if (this.auth.isStale && !this.auth.renewable) {
      return this.fail(new WebSocketClientError('AUTH_EXPIRED', 'The token expired and no getToken option was given'));
    }
    if (this.machine.state === 'connected') this.machine.setState('reconnecting', { reason: lossReason(reason) });
    const delay = this.restartDelay;
    this.restartDelay = undefined;
    this.scheduleReconnect(undefined, delay);
  }

  private scheduleReconnect(retryAfterMs?: number, fixedDelay?: number): void {
    const { minDelayMs, maxDelayMs, factor } = this.backoffOptions;
    let delay = fixedDelay ?? backoff(this.failures, minDelayMs, maxDelayMs, factor);
    if (retryAfterMs !== undefined) delay = Math.max(delay, retryAfterMs);
    if (this.failures >= this.maxReconnectAttempts) {
      return this.fail(new WebSocketClientError('RECONNECT_FAILED', `${this.failures} connection attempts in a row failed`));
    }
    this.failures++;
    this.log.debug('next connection attempt scheduled', { delayMs: delay, attempt: this.failures });
    this.clearReconnectTimer();
    this.reconnectTimer = this.timers.setTimeout(() => void this.openSocket(), delay);
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer !== undefined) this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  /** After `connect`: presence, then every room (with recovery), then `connected` and the queue. */
  private async resume(socket: ClientSocket): Promise<void> {
    const session = this.session;
    const presence = this.presence.version;
    // joinRoom() callers are answered once the state is `connected`.
    const answers: (() => void)[] = [];
    try {
      await this.presence.restore(socket);
      await this.rooms.rejoinAll(socket, answers);
    } catch {
      // The connection broke (or stopped answering) while resuming: start over.
      if (socket === this.socket && session === this.session) this.onDisconnect(socket, 'resume failed');
      return;
    }
    if (socket !== this.socket || session !== this.session || !socket.connected) return;
    this.ready = true;
    this.failures = 0;
    this.machine.setState('connected', { reason: 'connected' });
    for (const waiter of this.connectWaiters.splice(0)) waiter.resolve();
    for (const answer of answers) answer();
    this.rooms.joinPending(socket);
    if (this.presence.version !== presence) void this.presence.apply().catch((err: WebSocketClientError) => this.emit('error', err));
    this.sender.flush();
  }

  private onEstablished(socket: ClientSocket, data: ConnectionEstablished): void {
    this.established = data;
    this.presence.startHeartbeat(socket, this.heartbeatIntervalMs ?? data.heartbeatInterval);
    this.auth.schedule(socket, data.expiresAt);
    this.emit('connection:established', data);
  }

  /** Stops using a socket: no more events from it, its pending requests fail, timers tied to it stop. */
  private dropSocket(socket: ClientSocket): void {
    if (socket === this.socket) {
      this.socket = undefined;
      this.ready = false;
      this.presence.stopHeartbeat();
      this.auth.cancel();
      this.rooms.connectionLost();
    }
    socket.removeAllListeners();
    socket.disconnect();
  }

  private teardown(): void {
    this.clearReconnectTimer();
    if (this.socket) this.dropSocket(this.socket);
    this.ready = false;
    this.restartDelay = undefined;
    this.presence.stopIdleDetection();
    this.stopOnlineListener?.();
    this.stopOnlineListener = undefined;
  }

  /** Terminal: stop retrying, reject everything pending, report why. */
  private fail(error: WebSocketClientError): void {
    this.session++;
    this.teardown();
    this.failure = error;
    this.abandonAll(error, 'failed');
    this.log.error('the client gave up connecting', { code: error.code, detail: error.message });
    this.machine.setState('failed', { reason: error.code, error });
    this.emit('error', error);
  }

  private abandonAll(error: WebSocketClientError, reason: RoomLeftReason): void {
    this.sender.rejectAll(error);
    this.rooms.clear(error, reason);
    for (const waiter of this.connectWaiters.splice(0)) waiter.reject(error);
  }

  /** A message for the application: the flat event, then the room object's. */
  private deliver(message: RoomMessage): void {
    this.emit('room:message', message);
    this.roomObjects.get(message.room)?.deliver(message);
  }

  private roomRemoved(room: string, reason: RoomLeftReason, error: WebSocketClientError | undefined): void {
    this.log.debug('room left', { room, reason });
    this.roomObjects.get(room)?.left({ room, reason, ...(error !== undefined && { error }) });
  }

  /** After a join or re-join of a room that has a room object: who is there (presence events only tell changes). */
  private loadPresence(room: string, socket: ClientSocket): void {
    const target = this.roomObjects.get(room);
    if (!target) return;
    this.link
      .request(socket, (s) => s.emitWithAck('query:presence', { room }))
      .then((ack) => {
        if (!ack.success) throw ackError(ack, room);
        if (socket === this.socket && this.rooms.has(room)) target.presenceLoaded(ack.presence);
      })
      .catch((err: WebSocketClientError) => {
        // A lost connection loads it again after the re-join.
        if (err.code !== 'NOT_CONNECTED' && err.code !== 'TIMEOUT') this.emit('error', err);
      });
  }

  /** The socket for a request that needs a live connection. */
  private live(): ClientSocket {
    if (this.failure) throw this.failure;
    const socket = this.link.liveSocket();
    if (!socket) throw new WebSocketClientError('NOT_CONNECTED', 'Not connected');
    return socket;
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
    let room = this.roomObjects.get(name);
    if (!room) {
      room = new Room<unknown>(name, this);
      this.roomObjects.set(name, room);
      const socket = this.link.liveSocket();
      if (socket && this.rooms.has(name)) this.loadPresence(name, socket);
    }
    return room as Room<T>;
  }

  /**
   * Joins `room` and resolves with the join acknowledgement. Before the connection is up the join
   * waits for it. The room is re-joined after every reconnect, with recovery of what was missed. A room
   * already joined is not joined again unless `metadata` is given. A join aborted or timed out through
   * `options` leaves the room (unless another join call for it still waits).
   */
  async joinRoom(room: string, metadata?: Metadata, options?: CallOptions): Promise<JoinResult> {
    if (this.failure) throw this.failure;
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
    if (this.failure) throw this.failure;
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
      from: this.established?.userId ?? '',
      payload: sent.payload,
      timestamp: this.timers.now(),
      clientMessageId: sent.clientMessageId,
      ...(sent.persistent && { persistent: true }),
    };
    this.deliver(message);
  }
}
