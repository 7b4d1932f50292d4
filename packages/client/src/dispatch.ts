import type { RoomMessage } from '@intelgraph/websocket-protocol';
import type { Emit } from './emitter.js';
import { ackError, type WebSocketClientError } from './errors.js';
import type { Link } from './link.js';
import type { Logger } from './logger.js';
import { Room, type RoomHost } from './room.js';
import type { RoomRegistry } from './rooms.js';
import type { ClientSocket, RoomLeftReason, WebSocketClientEvents } from './types.js';

/**
 * What reaches the application from its rooms: each server event as the client's own event first,
 * then to the room object of its room (the objects `client.room()` hands out, kept here).
 */
export class Dispatcher {
  /** Room objects handed out by `room()`, by name. */
  private readonly objects = new Map<string, Room<unknown>>();

  constructor(
    private readonly link: Link,
    private readonly rooms: RoomRegistry,
    private readonly emit: Emit<WebSocketClientEvents>,
    private readonly log: Logger,
  ) {}

  /** The object for room `name`, made on first use (then, when the room is joined, who is in it is loaded). */
  room(name: string, host: RoomHost): Room<unknown> {
    let room = this.objects.get(name);
    if (!room) {
      room = new Room<unknown>(name, host);
      this.objects.set(name, room);
      const socket = this.link.liveSocket();
      if (socket && this.rooms.has(name)) this.loadPresence(name, socket);
    }
    return room;
  }

  /** The application's events of a socket; `current()` is false once the socket was replaced. */
  bind(socket: ClientSocket, current: () => boolean): void {
    socket.on('room:message', (message: RoomMessage) => {
      if (current() && typeof message?.id === 'string' && typeof message.room === 'string') this.rooms.live(message);
    });
    socket.on('room:joined', (data) => current() && this.emit('room:joined', data));
    socket.on('room:left', (data) => {
      if (!current()) return;
      // Taken out by the application: not joined again on the next connection.
      if (data?.reason === 'removed' && typeof data.room === 'string') this.rooms.removedByServer(data.room);
      this.emit('room:left', data);
    });
    socket.on('presence:join', (data) => {
      if (!current()) return;
      this.emit('presence:join', data);
      if (typeof data?.user?.userId === 'string') this.objects.get(data.room)?.presenceEvent({ join: data });
    });
    socket.on('presence:update', (data) => {
      if (!current()) return;
      this.emit('presence:update', data);
      if (Array.isArray(data?.presence)) this.objects.get(data.room)?.presenceEvent({ update: data });
    });
    socket.on('presence:leave', (data) => {
      if (!current()) return;
      this.emit('presence:leave', data);
      if (typeof data?.userId === 'string') this.objects.get(data.room)?.presenceEvent({ leave: data });
    });
  }

  /** A message for the application: the flat event, then the room object's. */
  deliver(message: RoomMessage): void {
    this.emit('room:message', message);
    this.objects.get(message.room)?.deliver(message);
  }

  recoveryFailed(room: string): void {
    this.log.warn('messages missed while offline could not all be recovered', { room });
    this.emit('room:recovery-failed', { room });
    this.objects.get(room)?.recoveryFailed({ room });
  }

  removed(room: string, reason: RoomLeftReason, error: WebSocketClientError | undefined): void {
    this.log.debug('room left', { room, reason });
    this.objects.get(room)?.left({ room, reason, ...(error !== undefined && { error }) });
  }

  /** After a join or re-join of a room that has a room object: who is there (presence events only tell changes). */
  loadPresence(room: string, socket: ClientSocket): void {
    const target = this.objects.get(room);
    if (!target) return;
    this.link
      .request(socket, (s) => s.emitWithAck('query:presence', { room }))
      .then((ack) => {
        if (!ack.success) throw ackError(ack, room);
        if (socket === this.link.currentSocket() && this.rooms.has(room)) target.presenceLoaded(ack.presence);
      })
      .catch((err: WebSocketClientError) => {
        // A lost connection loads it again after the re-join.
        if (err.code !== 'NOT_CONNECTED' && err.code !== 'TIMEOUT') this.emit('error', err);
      });
  }
}
