import { isErrorCode, reconnectAdvice, type ConnectionEstablished } from '@intelgraph/websocket-protocol';
import { io } from 'socket.io-client';
import type { TokenKeeper } from './auth.js';
import { backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { Emit } from './emitter.js';
import { classifyConnectError, WebSocketClientError } from './errors.js';
import type { CurrentSocket } from './link.js';
import type { Logger } from './logger.js';
import { onNetworkOnline } from './online.js';
import type { PresenceKeeper } from './presence.js';
import type { RoomRegistry } from './rooms.js';
import type { Sender } from './sender.js';
import { lossReason, StateMachine, type ConnectionState } from './state.js';
import { RestartNotice } from './restart.js';
import type { TimerHandle, Timers } from './timers.js';
import type { ClientSocket, RoomLeftReason, SocketFactory, Transport, WebSocketClientEvents, WebSocketClientOptions } from './types.js';

const DEFAULT_CONNECT_TIMEOUT = 20_000;

const defaultSocketFactory: SocketFactory = (url, options) => io(url, options);

/** The client's options that shape its connections, with their defaults. */
export interface ConnectionSettings {
  readonly urls: readonly string[];
  readonly tenantId: string | undefined;
  readonly backoff: BackoffOptions;
  readonly connectTimeoutMs: number;
  readonly heartbeatIntervalMs: number | undefined;
  readonly idleTimeoutMs: number | undefined;
  readonly transports: Transport[];
  readonly path: string | undefined;
  readonly socketFactory: SocketFactory;
  readonly maxReconnectAttempts: number;
}

/** Throws a TypeError on options no connection can be made with. */
export function connectionSettings(options: WebSocketClientOptions): ConnectionSettings {
  const urls = [...(options.url !== undefined ? [options.url] : []), ...(options.urls ?? [])];
  if (urls.length === 0) throw new TypeError('WebSocketClient needs a url (or urls)');
  const max = options.maxReconnectAttempts ?? Infinity;
  if (!(max >= 0)) throw new TypeError('maxReconnectAttempts must be a number >= 0');
  return {
    urls,
    tenantId: options.tenantId,
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    idleTimeoutMs: options.idleTimeoutMs,
    transports: options.transports ?? ['websocket', 'polling'],
    path: options.path,
    socketFactory: options.socketFactory ?? defaultSocketFactory,
    maxReconnectAttempts: max,
  };
}

/** The parts of the client a connection starts, resumes and stops. */
export interface ConnectionParts {
  readonly auth: TokenKeeper;
  readonly presence: PresenceKeeper;
  readonly rooms: RoomRegistry;
  readonly sender: Sender;
  readonly timers: Timers;
  readonly log: Logger;
}

export interface ConnectionEvents {
  /** Reports the client's events. */
  emit: Emit<WebSocketClientEvents>;
  /** A new socket: binds the application's events on it; `current()` is false once it is replaced. */
  bound(socket: ClientSocket, current: () => boolean): void;
}

export interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * One Socket.IO connection at a time, with its own reconnection: full-jitter backoff, the server's
 * restart hints, rotation over several URLs, token renewal before an attempt, terminal refusals. A
 * new connection becomes `connected` once presence is restored and every room re-joined.
 */
export class Connection {
  private readonly machine: StateMachine;
  private readonly emit: Emit<WebSocketClientEvents>;
  /** Changes on every connect(), disconnect() and failure, so stale continuations stop. */
  private session = 0;
  private urlIndex = 0;
  private failures = 0;
  private readonly restart: RestartNotice;
  /** A `system:error` that announced the server closing the connection: its code decides what follows. */
  private closingNotice: WebSocketClientError | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private establishedData: ConnectionEstablished | undefined;
  private failedWith: WebSocketClientError | undefined;
  private waiters: Waiter[] = [];
  private stopOnlineListener: (() => void) | undefined;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly link: CurrentSocket,
    private readonly parts: ConnectionParts,
    private readonly events: ConnectionEvents,
  ) {
    this.emit = events.emit;
    this.restart = new RestartNotice(parts.timers);
    this.machine = new StateMachine((change) => {
      parts.log.info(`connection ${change.newState}`, { from: change.oldState, reason: change.reason });
      this.emit('status:change', change.newState, change);
    });
  }

  get state(): ConnectionState {
    return this.machine.state;
  }

  /** The last `connection:established` payload. */
  get established(): ConnectionEstablished | undefined {
    return this.establishedData;
  }

  /** Why the client is `failed`, when it is. */
  get failure(): WebSocketClientError | undefined {
    return this.failedWith;
  }

  /**
   * Starts connecting (while waiting for the next attempt, tries at once); resolves once connected,
   * rejects on failure or `stop`. `onWaiter` receives the wait, for `withdraw`.
   */
  start(onWaiter: (waiter: Waiter) => void): Promise<void> {
    const state = this.machine.state;
    if (state === 'connected') return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      this.waiters.push(waiter);
      onWaiter(waiter);
    });
    if (state === 'disconnected' || state === 'failed') {
      this.session++;
      this.failedWith = undefined;
      this.failures = 0;
      this.urlIndex = 0;
      this.machine.setState('connecting', { reason: 'connect' });
      this.parts.presence.startIdleDetection(this.settings.idleTimeoutMs);
      // Browsers: when the network comes back, try at once instead of waiting for the backoff.
      this.stopOnlineListener ??= onNetworkOnline(() => {
        if (this.reconnectTimer !== undefined) this.start(() => {}).catch(() => {});
      });
      void this.openSocket();
    } else if (this.reconnectTimer !== undefined) {
      this.clearReconnectTimer();
      void this.openSocket();
    }
    return promise;
  }

  /** Ends one wait of `start` without settling it: the connection goes on. */
  withdraw(waiter: Waiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /** Closes the connection and ends the session: everything pending rejects with `CLIENT_CLOSED`. */
  stop(): void {
    this.session++;
    this.teardown();
    this.failedWith = undefined;
    this.abandonAll(new WebSocketClientError('CLIENT_CLOSED', 'disconnect() was called'), 'disconnect');
    if (this.machine.state !== 'disconnected') this.machine.setState('disconnected', { reason: 'io client disconnect' });
  }

  private async openSocket(): Promise<void> {
    this.reconnectTimer = undefined;
    const session = this.session;
    const { auth } = this.parts;
    if (!this.retrying(session)) return;
    if (auth.needsRenewal()) {
      try {
        await auth.renew();
      } catch (err) {
        if (!this.retrying(session)) return;
        this.emit('connect_error', err as WebSocketClientError);
        this.scheduleReconnect();
        return;
      }
      if (!this.retrying(session)) return;
    }
    const { urls, transports, connectTimeoutMs, path } = this.settings;
    const url = urls[this.urlIndex % urls.length] as string;
    this.parts.log.debug('connection attempt', { url, attempt: this.failures });
    const socket = this.settings.socketFactory(url, {
      forceNew: true,
      reconnection: false,
      autoConnect: false,
      transports,
      timeout: connectTimeoutMs,
      ...(path !== undefined && { path }),
      auth: (cb: (data: object) => void) => cb(this.handshakeAuth()),
    });
    this.link.socket = socket;
    this.closingNotice = undefined;
    this.bind(socket);
    socket.connect();
  }

  private retrying(session: number): boolean {
    const state = this.machine.state;
    return session === this.session && (state === 'connecting' || state === 'reconnecting');
  }

  private handshakeAuth(): { token?: string; tenantId?: string } {
    const auth: { token?: string; tenantId?: string } = {};
    const token = this.parts.auth.current;
    if (token !== undefined) auth.token = token;
    if (this.settings.tenantId !== undefined) auth.tenantId = this.settings.tenantId;
    return auth;
  }

  /** The events that steer the connection; the application's are bound by `events.bound`. */
  private bind(socket: ClientSocket): void {
    const current = (): boolean => socket === this.link.socket;
    socket.on('connect', () => current() && void this.resume(socket));
    socket.on('connect_error', (err) => current() && this.onConnectError(socket, err));
    socket.on('disconnect', (reason) => current() && this.onDisconnect(socket, reason));
    socket.on('connection:established', (data) => current() && this.onEstablished(socket, data));
    socket.on('system:restart', (data) => {
      if (!current()) return;
      const delay = data?.reconnectIn;
      if (typeof delay === 'number' && delay >= 0 && Number.isFinite(delay)) this.restart.arm(delay, () => this.leaveDraining(socket));
      this.emit('system:restart', data);
    });
    socket.on('system:error', (data) => {
      if (!current()) return;
      if (data?.code === 'AUTH_EXPIRED') this.parts.auth.markStale();
      if (data?.disconnect === true && isErrorCode(data.code)) this.closingNotice = new WebSocketClientError(data.code, data.message);
      this.emit('system:error', data);
    });
    this.events.bound(socket, current);
  }

  private onConnectError(socket: ClientSocket, err: unknown): void {
    const { urls, path } = this.settings;
    const target = { url: urls[this.urlIndex % urls.length] as string, path, extraHeaders: socket.io.opts.extraHeaders };
    this.dropSocket(socket);
    const session = this.session;
    void classifyConnectError(err, target).then((error) => session === this.session && this.onConnectFailure(error));
  }

  private onConnectFailure(error: WebSocketClientError): void {
    this.parts.log.warn('connection attempt failed', { code: error.code, detail: error.message });
    this.emit('connect_error', error);
    if (error.code === 'ORIGIN_NOT_ALLOWED') return this.fail(error);
    const advice = reconnectAdvice(error.code);
    if (advice === 'stop') return this.fail(error);
    if (advice === 'renew') {
      if (!this.parts.auth.renewable) return this.fail(error);
      this.parts.auth.markStale();
    }
    this.urlIndex++;
    this.scheduleReconnect(error.retryAfterMs);
  }

  private onDisconnect(socket: ClientSocket, reason: string): void {
    const { auth } = this.parts;
    this.dropSocket(socket);
    const notice = this.closingNotice;
    this.closingNotice = undefined;
    // The server said why it closes: a code to stop on, or one a new token overcomes, as for a refused connection.
    if (notice) {
      const advice = reconnectAdvice(notice.code);
      if (advice === 'stop' || (advice === 'renew' && !auth.renewable)) return this.fail(notice);
      if (advice === 'renew') auth.markStale();
    }
    if (auth.isStale && !auth.renewable) {
      return this.fail(new WebSocketClientError('AUTH_EXPIRED', 'The token expired and no getToken option was given'));
    }
    if (this.machine.state === 'connected') this.machine.setState('reconnecting', { reason: lossReason(reason) });
    // Closed by a draining server before the time it gave (its SHUTDOWN_TIMEOUT was shorter): the next attempt
    // still waits for that time, on the next URL (the draining instance refuses new connections).
    const remaining = this.restart.takeRemaining();
    if (remaining !== undefined) this.urlIndex++;
    this.scheduleReconnect(undefined, remaining);
  }

  /** `system:restart`'s time has come: leave the draining server and connect again at once, to the next URL. */
  private leaveDraining(socket: ClientSocket): void {
    if (socket !== this.link.socket) return;
    if (this.machine.state === 'connected') this.machine.setState('reconnecting', { reason: 'server restart' });
    this.dropSocket(socket);
    this.urlIndex++;
    void this.openSocket();
  }

  private scheduleReconnect(retryAfterMs?: number, fixedDelay?: number): void {
    const { minDelayMs, maxDelayMs, factor } = this.settings.backoff;
    let delay = fixedDelay ?? backoff(this.failures, minDelayMs, maxDelayMs, factor);
    if (retryAfterMs !== undefined) delay = Math.max(delay, retryAfterMs);
    if (this.failures >= this.settings.maxReconnectAttempts) {
      return this.fail(new WebSocketClientError('RECONNECT_FAILED', `${this.failures} connection attempts in a row failed`));
    }
    this.failures++;
    this.parts.log.debug('next connection attempt scheduled', { delayMs: delay, attempt: this.failures });
    this.clearReconnectTimer();
    this.reconnectTimer = this.parts.timers.setTimeout(() => void this.openSocket(), delay);
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer !== undefined) this.parts.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  /** After `connect`: presence, then every room (with recovery), then `connected` and the queue. */
  private async resume(socket: ClientSocket): Promise<void> {
    const { presence, rooms, sender } = this.parts;
    const session = this.session;
    const version = presence.version;
    // joinRoom() callers are answered once the state is `connected`.
    const answers: (() => void)[] = [];
    try {
      await presence.restore(socket);
      await rooms.rejoinAll(socket, answers);
    } catch {
      // The connection broke (or stopped answering) while resuming: start over.
      if (socket === this.link.socket && session === this.session) this.onDisconnect(socket, 'resume failed');
      return;
    }
    if (socket !== this.link.socket || session !== this.session || !socket.connected) return;
    this.link.ready = true;
    this.failures = 0;
    this.machine.setState('connected', { reason: 'connected' });
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    for (const answer of answers) answer();
    rooms.joinPending(socket);
    if (presence.version !== version) void presence.apply().catch((err: WebSocketClientError) => this.emit('error', err));
    sender.flush();
  }

  private onEstablished(socket: ClientSocket, data: ConnectionEstablished): void {
    this.establishedData = data;
    this.parts.presence.startHeartbeat(socket, this.settings.heartbeatIntervalMs ?? data.heartbeatInterval);
    this.parts.auth.schedule(socket, data.expiresAt);
    this.emit('connection:established', data);
  }

  /** Stops using a socket: no more events from it, its pending requests fail, timers tied to it stop. */
  private dropSocket(socket: ClientSocket): void {
    if (socket === this.link.socket) {
      this.restart.stopTimer();
      this.link.socket = undefined;
      this.link.ready = false;
      this.parts.presence.stopHeartbeat();
      this.parts.auth.cancel();
      this.parts.rooms.connectionLost();
    }
    socket.removeAllListeners();
    socket.disconnect();
  }

  private teardown(): void {
    this.clearReconnectTimer();
    if (this.link.socket) this.dropSocket(this.link.socket);
    this.link.ready = false;
    this.restart.clear();
    this.parts.presence.stopIdleDetection();
    this.stopOnlineListener?.();
    this.stopOnlineListener = undefined;
  }

  /** Terminal: stop retrying, reject everything pending, report why. */
  private fail(error: WebSocketClientError): void {
    this.session++;
    this.teardown();
    this.failedWith = error;
    this.abandonAll(error, 'failed');
    this.parts.log.error('the client gave up connecting', { code: error.code, detail: error.message });
    this.machine.setState('failed', { reason: error.code, error });
    this.emit('error', error);
  }

  private abandonAll(error: WebSocketClientError, reason: RoomLeftReason): void {
    this.parts.sender.rejectAll(error);
    this.parts.rooms.clear(error, reason);
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}
