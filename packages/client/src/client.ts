import {
  PRESENCE_STATUSES,
  ROOM_NAME_PATTERN,
  TERMINAL_CONNECT_ERRORS,
  type ConnectionEstablished,
  type Metadata,
  type PresenceInfo,
  type PresenceStatus,
  type RoomMessage,
  type StatusRequest,
} from '@intelgraph/websocket-protocol';
import { io } from 'socket.io-client';
import { backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { TypedEmitter } from './emitter.js';
import { ackError, connectError, requestError, WebSocketClientError } from './errors.js';
import { startIdleDetection, type IdleDetector } from './idle.js';
import { newClientMessageId } from './ids.js';
import { Outbox, type OutgoingMessage } from './queue.js';
import { RecentSet, RoomSequence } from './recovery.js';
import { StateMachine, type ConnectionState } from './state.js';
import { defaultTimers, type TimerHandle, type Timers } from './timers.js';
import { jwtExpiresAt, refreshDelay } from './token.js';
import type {
  ClientSocket,
  HistoryOptions,
  HistoryPage,
  JoinResult,
  SocketFactory,
  Transport,
  WebSocketClientEvents,
  WebSocketClientOptions,
} from './types.js';

type TimedSocket = ReturnType<ClientSocket['timeout']>;

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/** A room the application asked to be in. */
interface RoomEntry {
  readonly room: string;
  metadata: Metadata | undefined;
  readonly sequence: RoomSequence;
  /** Joined on the current connection. */
  joined: boolean;
  /** `joinRoom` calls waiting for the join acknowledgement. */
  waiters: Waiter<JoinResult>[];
}

/** History page size used when a re-join has more to recover than its acknowledgement holds. */
const RECOVERY_PAGE = 500;
const DEFAULT_QUEUE_SIZE = 1000;
const DEFAULT_ACK_TIMEOUT = 10_000;
const DEFAULT_CONNECT_TIMEOUT = 20_000;
const DEFAULT_REFRESH_MARGIN = 30_000;

const defaultSocketFactory: SocketFactory = (url, options) => io(url, options);

/**
 * Client of the real-time server: one Socket.IO connection with its own reconnection (full-jitter
 * backoff, server restart hints, token refresh), rooms re-joined with gap-free recovery, an offline
 * queue with duplicate-safe resends, and presence helpers.
 */
export class WebSocketClient extends TypedEmitter<WebSocketClientEvents> {
  private readonly urls: readonly string[];
  private urlIndex = 0;
  private token: string | undefined;
  /** The server said the token expired: get a new one before the next connection attempt. */
  private tokenStale = false;
  private readonly getToken: (() => string | Promise<string>) | undefined;
  private readonly tenantId: string | undefined;
  private readonly backoffOptions: BackoffOptions;
  private readonly ackTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly refreshMarginMs: number;
  private readonly heartbeatIntervalMs: number | undefined;
  private readonly idleTimeoutMs: number | undefined;
  private readonly transports: Transport[];
  private readonly path: string | undefined;
  private readonly timers: Timers;
  private readonly socketFactory: SocketFactory;

  private readonly machine: StateMachine;
  private socket: ClientSocket | undefined;
  /** Connected and rooms re-joined: sends go out directly. */
  private ready = false;
  /** Changes on every connect(), disconnect() and failure, so stale continuations stop. */
  private session = 0;
  private everConnected = false;
  private failures = 0;
  private restartDelay: number | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private refreshTimer: TimerHandle | undefined;
  private established: ConnectionEstablished | undefined;
  private failure: WebSocketClientError | undefined;
  private connectWaiters: Waiter<void>[] = [];

  private readonly rooms = new Map<string, RoomEntry>();
  private readonly outbox: Outbox;
  private readonly ownClientIds = new RecentSet(10_000);
  private pumping = false;
  private pumpPause: { timer: TimerHandle; wake(): void } | undefined;

  private presence: StatusRequest = { status: 'online' };
  private idle = false;
  private idleDetector: IdleDetector | undefined;

  constructor(options: WebSocketClientOptions) {
    super();
    const urls = [...(options.url !== undefined ? [options.url] : []), ...(options.urls ?? [])];
    if (urls.length === 0) throw new TypeError('WebSocketClient needs a url (or urls)');
    this.urls = urls;
    this.token = options.token;
    this.getToken = options.getToken;
    this.tenantId = options.tenantId;
    this.backoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.outbox = new Outbox(options.queue?.maxSize ?? DEFAULT_QUEUE_SIZE);
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT;
    this.refreshMarginMs = options.tokenRefreshMarginMs ?? DEFAULT_REFRESH_MARGIN;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs;
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.transports = options.transports ?? ['websocket', 'polling'];
    this.path = options.path;
    this.timers = options.timers ?? defaultTimers;
    this.socketFactory = options.socketFactory ?? defaultSocketFactory;
    this.machine = new StateMachine((change) => this.emit('status:change', change.newState, change));
    // Deferred so that listeners attached right after the constructor see every state change.
    if (options.autoConnect !== false) queueMicrotask(() => this.connect().catch(() => {}));
  }

  // -------------------------------------------------------------------------
  // Introspection

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
    return this.outbox.size;
  }

  /** Rooms the client is in or re-joins on reconnect. */
  get joinedRooms(): string[] {
    return [...this.rooms.keys()];
  }

  /** The id of the last message delivered in `room`. */
  lastMessageId(room: string): string | undefined {
    return this.rooms.get(room)?.sequence.lastId;
  }

  // -------------------------------------------------------------------------
  // Connection

  /**
   * Starts connecting (no-op when already connecting or connected). Resolves once connected and rooms
   * are re-joined; rejects when the client fails (terminal refusal) or `disconnect()` is called first.
   */
  connect(): Promise<void> {
    const state = this.machine.state;
    if (state === 'connected') return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    if (state === 'disconnected' || state === 'failed') {
      this.session++;
      this.failure = undefined;
      this.everConnected = false;
      this.failures = 0;
      this.urlIndex = 0;
      this.machine.setState('connecting');
      this.startIdleDetection();
      void this.openSocket();
    } else if (this.reconnectTimer !== undefined) {
      // Waiting for the next attempt: try now.
      this.timers.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
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
    this.stopIdleDetection();
    this.failure = undefined;
    this.abandonAll(new WebSocketClientError('CLIENT_CLOSED', 'disconnect() was called'));
    if (this.machine.state !== 'disconnected') this.machine.setState('disconnected', { reason: 'io client disconnect' });
  }

  private async openSocket(): Promise<void> {
    this.reconnectTimer = undefined;
    const session = this.session;
    if (!this.retrying(session)) return;
    if (this.getToken && (this.token === undefined || this.tokenStale || this.tokenExpired())) {
      try {
        await this.fetchToken();
      } catch (err) {
        if (!this.retrying(session)) return;
        const error = err instanceof WebSocketClientError ? err : new WebSocketClientError('TOKEN_ERROR', String(err));
        this.emit('connect_error', error);
        this.scheduleReconnect();
        return;
      }
      if (!this.retrying(session)) return;
    }
    const url = this.urls[this.urlIndex % this.urls.length] as string;
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
    if (this.token !== undefined) auth.token = this.token;
    if (this.tenantId !== undefined) auth.tenantId = this.tenantId;
    return auth;
  }

  private bind(socket: ClientSocket): void {
    const current = (): boolean => socket === this.socket;
    socket.on('connect', () => {
      if (current()) void this.resume(socket);
    });
    socket.on('connect_error', (err) => {
      if (current()) this.onConnectError(socket, err);
    });
    socket.on('disconnect', (reason) => {
      if (current()) this.onDisconnect(socket, reason);
    });
    socket.on('connection:established', (data) => {
      if (current()) this.onEstablished(socket, data);
    });
    socket.on('room:message', (message) => {
      if (current()) this.onMessage(message);
    });
    socket.on('system:restart', (data) => {
      if (!current()) return;
      if (typeof data?.reconnectIn === 'number' && data.reconnectIn >= 0) this.restartDelay = data.reconnectIn;
      this.emit('system:restart', data);
    });
    socket.on('system:error', (data) => {
      if (!current()) return;
      if (data?.code === 'AUTH_EXPIRED') this.tokenStale = true;
      this.emit('system:error', data);
    });
    socket.on('room:joined', (data) => current() && this.emit('room:joined', data));
    socket.on('room:left', (data) => current() && this.emit('room:left', data));
    socket.on('presence:join', (data) => current() && this.emit('presence:join', data));
    socket.on('presence:update', (data) => current() && this.emit('presence:update', data));
    socket.on('presence:leave', (data) => current() && this.emit('presence:leave', data));
  }

  private onConnectError(socket: ClientSocket, err: unknown): void {
    const error = connectError(err);
    this.dropSocket(socket);
    this.emit('connect_error', error);
    if ((TERMINAL_CONNECT_ERRORS as readonly string[]).includes(error.code)) return this.fail(error);
    if (error.code === 'AUTH_EXPIRED') {
      if (!this.getToken) return this.fail(error);
      this.tokenStale = true;
    }
    this.urlIndex++;
    this.scheduleReconnect(error.retryAfterMs);
  }

  private onDisconnect(socket: ClientSocket, reason: string): void {
    this.dropSocket(socket);
    if (this.tokenStale && !this.getToken) {
      return this.fail(new WebSocketClientError('AUTH_EXPIRED', 'The token expired and no getToken option was given'));
    }
    if (this.machine.state === 'connected') this.machine.setState('reconnecting', { reason });
    const delay = this.restartDelay;
    this.restartDelay = undefined;
    this.scheduleReconnect(undefined, delay);
  }

  private scheduleReconnect(retryAfterMs?: number, fixedDelay?: number): void {
    const { minDelayMs, maxDelayMs, factor } = this.backoffOptions;
    let delay = fixedDelay ?? backoff(this.failures, minDelayMs, maxDelayMs, factor);
    if (retryAfterMs !== undefined) delay = Math.max(delay, retryAfterMs);
    this.failures++;
    if (this.reconnectTimer !== undefined) this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = this.timers.setTimeout(() => void this.openSocket(), delay);
  }

  /** After `connect`: presence, rooms (with recovery), then the queue. */
  private async resume(socket: ClientSocket): Promise<void> {
    const session = this.session;
    const presence = this.presence;
    // joinRoom() callers are answered once the state is `connected`.
    const settled: (() => void)[] = [];
    try {
      const status = this.effectiveStatus();
      if (status !== 'online' || presence.metadata !== undefined) {
        const ack = await this.request(socket, (s) => s.emitWithAck('presence:status', this.presenceRequest()));
        if (!ack.success) this.emit('error', ackError(ack));
      }
      await Promise.all([...this.rooms.values()].map((entry) => this.joinOn(socket, entry, settled)));
    } catch {
      // The connection broke (or stopped answering) while resuming: start over.
      if (socket === this.socket && session === this.session) this.onDisconnect(socket, 'resume failed');
      return;
    }
    if (socket !== this.socket || session !== this.session || !socket.connected) return;
    this.ready = true;
    this.everConnected = true;
    this.failures = 0;
    this.machine.setState('connected');
    for (const waiter of this.connectWaiters.splice(0)) waiter.resolve();
    for (const answer of settled) answer();
    for (const entry of this.rooms.values()) {
      if (!entry.joined && entry.waiters.length > 0) this.joinNow(socket, entry);
    }
    if (this.presence !== presence) void this.applyPresence().catch((err: WebSocketClientError) => this.emit('error', err));
    void this.pump();
  }

  private onEstablished(socket: ClientSocket, data: ConnectionEstablished): void {
    this.established = data;
    const interval = this.heartbeatIntervalMs ?? data.heartbeatInterval;
    this.clearTimer('heartbeat');
    if (typeof interval === 'number' && interval > 0) {
      this.heartbeatTimer = this.timers.setInterval(() => this.heartbeat(socket), interval);
    }
    this.scheduleRefresh(socket, data.expiresAt ?? (this.token !== undefined ? jwtExpiresAt(this.token) : undefined));
    this.emit('connection:established', data);
  }

  private heartbeat(socket: ClientSocket): void {
    if (socket !== this.socket || !socket.connected) return;
    this.request(socket, (s) => s.emitWithAck('presence:heartbeat', {})).catch(() => {});
  }

  /** Stops using a socket: no more events from it, its pending requests fail, timers tied to it stop. */
  private dropSocket(socket: ClientSocket): void {
    if (socket === this.socket) {
      this.socket = undefined;
      this.ready = false;
      this.clearTimer('heartbeat');
      this.clearTimer('refresh');
      for (const entry of this.rooms.values()) {
        entry.joined = false;
        entry.sequence.abortRecovery();
      }
    }
    socket.removeAllListeners();
    socket.disconnect();
  }

  private teardown(): void {
    this.clearTimer('reconnect');
    if (this.socket) this.dropSocket(this.socket);
    this.ready = false;
    this.restartDelay = undefined;
    if (this.pumpPause) this.pumpPause.wake();
  }

  private clearTimer(which: 'heartbeat' | 'refresh' | 'reconnect'): void {
    if (which === 'heartbeat' && this.heartbeatTimer !== undefined) {
      this.timers.clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
    } else if (which === 'refresh' && this.refreshTimer !== undefined) {
      this.timers.clearTimeout(this.refreshTimer);
      this.refreshTimer = undefined;
    } else if (which === 'reconnect' && this.reconnectTimer !== undefined) {
      this.timers.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
  }

  /** Terminal: stop retrying, reject everything pending, report why. */
  private fail(error: WebSocketClientError): void {
    this.session++;
    this.teardown();
    this.stopIdleDetection();
    this.failure = error;
    this.abandonAll(error);
    this.machine.setState('failed', { reason: error.code, error });
    this.emit('error', error);
  }

  private abandonAll(error: WebSocketClientError): void {
    for (const message of this.outbox.drain()) message.reject(error);
    for (const entry of this.rooms.values()) {
      for (const waiter of entry.waiters.splice(0)) waiter.reject(error);
    }
    this.rooms.clear();
    for (const waiter of this.connectWaiters.splice(0)) waiter.reject(error);
  }

  // -------------------------------------------------------------------------
  // Tokens

  private tokenExpired(): boolean {
    const exp = this.token !== undefined ? jwtExpiresAt(this.token) : undefined;
    return exp !== undefined && exp <= this.timers.now();
  }

  private async fetchToken(): Promise<string> {
    const getToken = this.getToken;
    if (!getToken) throw new WebSocketClientError('AUTH_EXPIRED', 'No getToken option to renew the token');
    let token: unknown;
    try {
      token = await getToken();
    } catch (err) {
      throw new WebSocketClientError('TOKEN_ERROR', err instanceof Error ? err.message : String(err));
    }
    if (typeof token !== 'string' || token === '') throw new WebSocketClientError('TOKEN_ERROR', 'getToken() must return a non-empty string');
    this.token = token;
    this.tokenStale = false;
    return token;
  }

  private scheduleRefresh(socket: ClientSocket, expiresAt: number | undefined): void {
    this.clearTimer('refresh');
    // Already expired: the server ends the connection and the reconnect gets a new token.
    if (expiresAt === undefined || !this.getToken || expiresAt <= this.timers.now()) return;
    const delay = refreshDelay(expiresAt, this.timers.now(), this.refreshMarginMs);
    this.refreshTimer = this.timers.setTimeout(() => void this.refreshToken(socket, expiresAt), delay);
  }

  /** Gets a new token and hands it to the server on the open connection (`auth:refresh`). */
  private async refreshToken(socket: ClientSocket, oldExpiresAt: number): Promise<void> {
    this.refreshTimer = undefined;
    let token: string;
    try {
      token = await this.fetchToken();
    } catch (err) {
      this.emit('error', err instanceof WebSocketClientError ? err : new WebSocketClientError('TOKEN_ERROR', String(err)));
      // Try again halfway to the expiry; after it, the server's AUTH_EXPIRED leads to a reconnect with a new token.
      if (socket === this.socket && oldExpiresAt > this.timers.now()) {
        const retryIn = Math.max(1000, (oldExpiresAt - this.timers.now()) / 2);
        this.refreshTimer = this.timers.setTimeout(() => void this.refreshToken(socket, oldExpiresAt), retryIn);
      }
      return;
    }
    // Not connected any more: the new token goes with the next handshake.
    if (socket !== this.socket || !socket.connected) return;
    let ack;
    try {
      ack = await this.request(socket, (s) => s.emitWithAck('auth:refresh', { token }));
    } catch {
      return;
    }
    if (!ack.success) {
      this.emit('error', ackError(ack));
      return;
    }
    const expiresAt = ack.expiresAt ?? jwtExpiresAt(token);
    // A token that does not live longer than the old one is not refreshed again on this connection.
    if (socket === this.socket && expiresAt !== undefined && expiresAt > oldExpiresAt) this.scheduleRefresh(socket, expiresAt);
    this.emit('token:refreshed', expiresAt !== undefined ? { expiresAt } : {});
  }

  // -------------------------------------------------------------------------
  // Requests

  private async request<T>(socket: ClientSocket, send: (timed: TimedSocket) => Promise<T>): Promise<T> {
    if (!socket.connected) throw new WebSocketClientError('NOT_CONNECTED', 'Not connected');
    try {
      return await send(socket.timeout(this.ackTimeoutMs));
    } catch (err) {
      throw requestError(err);
    }
  }

  /** The socket for a request that needs a live connection. */
  private live(): ClientSocket {
    if (this.failure) throw this.failure;
    const socket = this.socket;
    if (!this.ready || !socket) throw new WebSocketClientError('NOT_CONNECTED', 'Not connected');
    return socket;
  }

  // -------------------------------------------------------------------------
  // Rooms

  /**
   * Joins `room` and resolves with the join acknowledgement. Before the connection is up the join
   * waits for it. The room is re-joined after every reconnect, with recovery of what was missed.
   */
  async joinRoom(room: string, metadata?: Metadata): Promise<JoinResult> {
    if (this.failure) throw this.failure;
    if (typeof room !== 'string' || !ROOM_NAME_PATTERN.test(room)) throw new WebSocketClientError('INVALID_ROOM', 'Invalid room name', { room });
    let entry = this.rooms.get(room);
    if (!entry) {
      entry = {
        room,
        metadata,
        sequence: new RoomSequence((m) => m.clientMessageId !== undefined && this.ownClientIds.has(m.clientMessageId)),
        joined: false,
        waiters: [],
      };
      this.rooms.set(room, entry);
    } else if (metadata !== undefined) {
      entry.metadata = metadata;
    }
    const target = entry;
    const result = new Promise<JoinResult>((resolve, reject) => target.waiters.push({ resolve, reject }));
    if (this.ready && this.socket) this.joinNow(this.socket, target);
    return result;
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
    const request = { room, ...(entry.metadata !== undefined && { metadata: entry.metadata }), ...(since !== undefined && { since }) };
    let ack;
    try {
      ack = await this.request(socket, (s) => s.emitWithAck('room:join', request));
    } catch (err) {
      if (generation !== undefined && sequence.isRecovery(generation)) sequence.abortRecovery();
      throw err;
    }
    if (this.rooms.get(room) !== entry) {
      // Left while the join was in flight.
      if (ack.success && socket === this.socket && socket.connected) this.request(socket, (s) => s.emitWithAck('room:leave', { room })).catch(() => {});
      return;
    }
    if (!ack.success) {
      if (generation !== undefined && sequence.isRecovery(generation)) sequence.abortRecovery();
      this.rooms.delete(room);
      const error = ackError(ack, room);
      const waiters = entry.waiters.splice(0);
      if (waiters.length > 0) for (const waiter of waiters) waiter.reject(error);
      else this.emit('error', error);
      return;
    }
    entry.joined = true;
    const result: JoinResult = { room };
    if (ack.messages !== undefined) result.messages = ack.messages;
    if (ack.recovered !== undefined) result.recovered = ack.recovered;
    if (ack.hasMore !== undefined) result.hasMore = ack.hasMore;
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
    const active = (): boolean => this.rooms.get(room) === entry && sequence.isRecovery(generation);
    let complete = ack.recovered !== false;
    if (!complete) this.emit('room:recovery-failed', { room });
    let page = ack.messages ?? [];
    let hasMore = ack.hasMore === true;
    this.deliver(sequence.recovered(page));
    while (hasMore && page.length > 0 && active()) {
      const since = (page[page.length - 1] as RoomMessage).id;
      let next;
      try {
        next = await this.request(socket, (s) => s.emitWithAck('room:history', { room, since, limit: RECOVERY_PAGE }));
      } catch {
        // Connection lost: the next re-join recovers from the last delivered id.
        if (sequence.isRecovery(generation)) sequence.abortRecovery();
        return;
      }
      if (!active()) return;
      if (!next.success) {
        this.emit('error', ackError(next, room));
        if (complete) this.emit('room:recovery-failed', { room });
        complete = false;
        break;
      }
      page = next.messages;
      hasMore = next.hasMore;
      this.deliver(sequence.recovered(page));
    }
    if (active()) this.deliver(sequence.endRecovery());
  }

  private onMessage(message: RoomMessage): void {
    if (typeof message?.id !== 'string' || typeof message.room !== 'string') return;
    const entry = this.rooms.get(message.room);
    if (entry) this.deliver(entry.sequence.live(message));
  }

  private deliver(messages: readonly RoomMessage[]): void {
    for (const message of messages) this.emit('room:message', message);
  }

  /** Leaves `room`: it is no longer re-joined, its queued messages will be refused with `NOT_IN_ROOM`. */
  async leaveRoom(room: string): Promise<void> {
    const entry = this.rooms.get(room);
    if (!entry) throw new WebSocketClientError('NOT_IN_ROOM', 'Not in this room', { room });
    this.rooms.delete(room);
    entry.sequence.abortRecovery();
    const left = new WebSocketClientError('NOT_IN_ROOM', 'The room was left before the join completed', { room });
    for (const waiter of entry.waiters.splice(0)) waiter.reject(left);
    const socket = this.socket;
    if (!entry.joined || !this.ready || !socket) return;
    const ack = await this.request(socket, (s) => s.emitWithAck('room:leave', { room }));
    if (!ack.success && ack.error !== 'NOT_IN_ROOM') throw ackError(ack, room);
  }

  /** Stored messages of `room` after `since` (not delivered as `room:message`). */
  async getHistory(room: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    const socket = this.live();
    const request = { room, ...(options.since !== undefined && { since: options.since }), ...(options.limit !== undefined && { limit: options.limit }) };
    const ack = await this.request(socket, (s) => s.emitWithAck('room:history', request));
    if (!ack.success) throw ackError(ack, room);
    return { messages: ack.messages, hasMore: ack.hasMore, recovered: ack.recovered };
  }

  /** Rooms this connection is in, as the server sees them. */
  async queryRooms(): Promise<string[]> {
    const socket = this.live();
    const ack = await this.request(socket, (s) => s.emitWithAck('query:rooms'));
    if (!ack.success) throw ackError(ack);
    return ack.rooms;
  }

  /** Who is in `room`. */
  async queryPresence(room: string): Promise<PresenceInfo[]> {
    const socket = this.live();
    const ack = await this.request(socket, (s) => s.emitWithAck('query:presence', { room }));
    if (!ack.success) throw ackError(ack, room);
    return ack.presence;
  }

  // -------------------------------------------------------------------------
  // Messages

  /**
   * Sends `payload` to `room`. Resolves with the message id once the server acknowledged it; while not
   * connected the message waits in the queue. Messages go out one at a time, in call order.
   */
  sendMessage(room: string, payload: unknown, persistent = false): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    if (typeof room !== 'string' || !ROOM_NAME_PATTERN.test(room)) return Promise.reject(new WebSocketClientError('INVALID_ROOM', 'Invalid room name', { room }));
    if (!this.rooms.has(room)) return Promise.reject(new WebSocketClientError('NOT_IN_ROOM', 'Join the room before sending to it', { room }));
    if (payload === undefined) return Promise.reject(new WebSocketClientError('INVALID_PAYLOAD', 'A payload is required', { room }));
    if (this.outbox.full) {
      return Promise.reject(new WebSocketClientError('QUEUE_FULL', `${this.outbox.maxSize} messages are already waiting`, { room }));
    }
    return new Promise<string>((resolve, reject) => {
      const message: OutgoingMessage = { clientMessageId: newClientMessageId(), room, payload, persistent: persistent === true, attempts: 0, resolve, reject };
      this.ownClientIds.add(message.clientMessageId);
      this.outbox.push(message);
      void this.pump();
    });
  }

  /** Sends the queue, oldest first, one message at a time, while connected. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const socket = this.socket;
        const message = this.outbox.peek();
        if (!message || !this.ready || !socket) return;
        message.attempts++;
        const request = { room: message.room, payload: message.payload, persistent: message.persistent, clientMessageId: message.clientMessageId };
        let ack;
        try {
          ack = await this.request(socket, (s) => s.emitWithAck('room:send', request));
        } catch (err) {
          // No answer in time: the outcome is unknown, so send again with the same clientMessageId.
          if (requestError(err).code === 'TIMEOUT' && this.ready && socket === this.socket) continue;
          return; // Connection lost: sent again after the reconnect.
        }
        if (ack.success) {
          if (this.outbox.remove(message)) message.resolve(ack.messageId);
        } else if (ack.error === 'RATE_LIMITED') {
          await this.pause(ack.retryAfterMs ?? 1000);
        } else if (ack.error === 'SHUTTING_DOWN') {
          return; // This server is going away: sent again after the reconnect.
        } else if (this.outbox.remove(message)) {
          message.reject(ackError(ack, message.room));
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        if (this.pumpPause?.wake === wake) {
          this.timers.clearTimeout(this.pumpPause.timer);
          this.pumpPause = undefined;
        }
        resolve();
      };
      this.pumpPause = { timer: this.timers.setTimeout(wake, Math.max(10, ms)), wake };
    });
  }

  // -------------------------------------------------------------------------
  // Presence

  /**
   * Sets this connection's presence status (and metadata, replacing the previous one). Remembered and
   * applied again after every reconnect; while offline it is only remembered. Rejects when the server
   * refuses it.
   */
  async setPresenceStatus(status: PresenceStatus, metadata?: Metadata): Promise<void> {
    if (!(PRESENCE_STATUSES as readonly string[]).includes(status)) {
      throw new WebSocketClientError('INVALID_PAYLOAD', `status must be one of ${PRESENCE_STATUSES.join(', ')}`);
    }
    this.presence = metadata !== undefined ? { status, metadata } : { status };
    await this.applyPresence();
  }

  /** The status user activity leaves: `away` while idle if the chosen status is `online`. */
  private effectiveStatus(): PresenceStatus {
    return this.idle && this.presence.status === 'online' ? 'away' : this.presence.status;
  }

  private presenceRequest(): StatusRequest {
    const req: StatusRequest = { status: this.effectiveStatus() };
    if (this.presence.metadata !== undefined) req.metadata = this.presence.metadata;
    return req;
  }

  private async applyPresence(): Promise<void> {
    const socket = this.socket;
    if (!this.ready || !socket) return;
    let ack;
    try {
      ack = await this.request(socket, (s) => s.emitWithAck('presence:status', this.presenceRequest()));
    } catch {
      return; // Applied again after the reconnect.
    }
    if (!ack.success) throw ackError(ack);
  }

  private startIdleDetection(): void {
    if (this.idleDetector || this.idleTimeoutMs === undefined) return;
    this.idleDetector = startIdleDetection(this.idleTimeoutMs, this.timers, (idle) => {
      const before = this.effectiveStatus();
      this.idle = idle;
      if (this.effectiveStatus() !== before) void this.applyPresence().catch((err: WebSocketClientError) => this.emit('error', err));
    });
  }

  private stopIdleDetection(): void {
    this.idleDetector?.stop();
    this.idleDetector = undefined;
    this.idle = false;
  }
}
