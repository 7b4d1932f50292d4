import { DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, type RoomMessage } from '@intelgraph/websocket-protocol';
import { CodedError } from '../errors.js';
import { parseMessageId } from '../engine/ids.js';
import { roomKeyString, type NewMessage, type Published, type RoomKey } from '../engine/types.js';
import { checkMetadata, exceedsJsonSize, parse, schemas } from '../validation.js';
import { NO_ROOMS, type ConnState, type IoSocket, type RealtimeDeps } from './context.js';
import type { PresenceAnnouncer } from './presence.js';
import { createBackendChecks, type Authorizer } from './authorization.js';

/** Messages returned in one join ack at most; the rest is paged with `room:history`. */
export const JOIN_RECOVERY_PAGE = 200;

type JoinAck = { room: string; messages?: RoomMessage[]; recovered?: boolean; hasMore?: boolean; lastId?: string };

/** Room handlers: join, leave, send, history, query:rooms. */
export function createRoomHandlers(deps: RealtimeDeps, presence: PresenceAnnouncer, authorize: Authorizer) {
  const { config, engine, metrics, limits } = deps;
  const stream = engine.stream;
  const backend = createBackendChecks(deps);

  const keyOf = (socket: IoSocket, room: string): RoomKey => ({ tenantId: socket.data.identity.tenantId, room });

  async function join(socket: IoSocket, raw: unknown): Promise<JoinAck> {
    const req = parse(schemas.join, raw);
    checkMetadata(req.metadata);
    const state = socket.data;
    // A second join of a room while the first is in flight runs once the first has ended.
    const inFlight = state.joining?.get(req.room);
    if (inFlight) await inFlight.catch(() => {});
    const run = joinOnce(socket, req);
    const joining = (state.joining ??= new Map());
    joining.set(req.room, run);
    try {
      return await run;
    } finally {
      if (joining.get(req.room) === run) joining.delete(req.room);
      if (joining.size === 0 && state.joining === joining) state.joining = undefined;
    }
  }

  async function joinOnce(socket: IoSocket, req: { room: string; metadata?: Record<string, unknown>; since?: string }): Promise<JoinAck> {
    const state = socket.data;
    const already = state.rooms.has(req.room);
    const release = already ? undefined : limits.reserveRoom(state);
    try {
      await authorize(socket, 'join', req.room);
      const metadata = backend.joins ? await backend.join(socket, req.room, req.metadata) : req.metadata;
      const key = keyOf(socket, req.room);
      // Without `since`: the room's position before this connection can receive anything, so the client has
      // a position to recover from even if no message reaches it before it reconnects.
      const lastId = req.since === undefined ? await stream.head(key) : undefined;
      if (!already) await enter(socket, state, key);
      await presence.joined(socket, key, metadata);
      // Disconnected meanwhile: the disconnect's cleanup may have run before the entry was written.
      if (state.closed) await presence.left(socket, key);
      const ack: JoinAck = { room: req.room };
      if (lastId !== undefined) ack.lastId = lastId;
      if (req.since !== undefined) {
        const page = await stream.read(key, { since: req.since, limit: JOIN_RECOVERY_PAGE });
        ack.messages = page.messages;
        ack.recovered = page.recovered;
        ack.hasMore = page.hasMore;
        metrics.historyRecoveries.inc({ result: page.recovered ? 'hit' : 'miss' });
      }
      setImmediate(() => socket.emit('room:joined', metadata !== undefined ? { room: req.room, metadata } : { room: req.room }));
      return ack;
    } finally {
      release?.();
    }
  }

  /** Subscribes this instance to the room, then adds the connection to it. */
  async function enter(socket: IoSocket, state: ConnState, key: RoomKey): Promise<void> {
    // Subscribed before joining: no message published after the ack can miss this instance.
    await stream.subscribe(key);
    if (state.closed) {
      await stream.unsubscribe(key).catch(() => {});
      throw new CodedError('INVALID_PAYLOAD', 'The connection closed');
    }
    const own = state.rooms === NO_ROOMS ? new Map<string, RoomKey>() : (state.rooms as Map<string, RoomKey>);
    own.set(key.room, key);
    state.rooms = own;
    socket.join(roomKeyString(key));
    metrics.roomSubscriptions.inc();
  }

  /** Removes the connection from a room it is in (leave or disconnect). */
  async function removeFrom(socket: IoSocket, room: string): Promise<void> {
    const key = socket.data.rooms.get(room);
    if (!key) return;
    (socket.data.rooms as Map<string, RoomKey>).delete(room);
    socket.leave(roomKeyString(key));
    metrics.roomSubscriptions.dec();
    await Promise.allSettled([stream.unsubscribe(key), presence.left(socket, key)]);
  }

  async function leave(socket: IoSocket, raw: unknown) {
    const req = parse(schemas.leave, raw);
    if (!socket.data.rooms.has(req.room)) throw new CodedError('NOT_IN_ROOM');
    await removeFrom(socket, req.room);
    setImmediate(() => socket.emit('room:left', { room: req.room }));
    return { room: req.room };
  }

  async function send(socket: IoSocket, raw: unknown) {
    const req = parse(schemas.send, raw);
    const state = socket.data;
    const key = state.rooms.get(req.room);
    if (!key) throw new CodedError('NOT_IN_ROOM');
    if (req.payload === undefined) throw new CodedError('INVALID_PAYLOAD', 'A payload is required');
    if (exceedsJsonSize(req.payload, config.maxMessageBytes)) {
      throw new CodedError('PAYLOAD_TOO_LARGE', `Payloads are limited to ${config.maxMessageBytes} bytes`);
    }
    const persistent = req.persistent === true;
    if (persistent && !config.persistence.enabled) {
      throw new CodedError('INVALID_PAYLOAD', 'Persistence is disabled on this server: send without persistent');
    }
    if (deps.authorize) await authorize(socket, 'send', req.room);
    const publishLimits = limits.beforeSend(state);
    const payload = backend.sends ? await backend.publish(socket, req.room, req.payload) : req.payload;
    const message: NewMessage = { from: state.identity.userId, payload, timestamp: Date.now() };
    if (req.clientMessageId !== undefined) message.clientMessageId = req.clientMessageId;
    let result: Published;
    try {
      // The user's and the tenant's buckets are taken in the same step as the append: a refused message
      // takes a token from neither and is neither stored nor delivered.
      result = await stream.publish(key, message, {
        persistent,
        exceptConnectionId: socket.id,
        ...(publishLimits !== undefined && { limits: publishLimits }),
      });
    } catch (err) {
      limits.sendRefused(err);
      throw err;
    }
    if (persistent && !result.duplicate) metrics.messagesPersisted.tally(state.tenantLabel).inc();
    if (!result.duplicate) deps.webhooks?.published(key, result.message);
    return result.duplicate ? { messageId: result.message.id, duplicate: true } : { messageId: result.message.id };
  }

  async function history(socket: IoSocket, raw: unknown) {
    const req = parse(schemas.history, raw);
    if (req.since !== undefined && !parseMessageId(req.since)) throw new CodedError('INVALID_PAYLOAD', 'since must be a message id');
    if (req.before !== undefined && !parseMessageId(req.before)) throw new CodedError('INVALID_PAYLOAD', 'before must be a message id');
    await authorize(socket, 'history', req.room);
    const page = await stream.read(keyOf(socket, req.room), {
      limit: Math.min(req.limit ?? DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT),
      ...(req.since !== undefined && { since: req.since }),
      ...(req.before !== undefined && { before: req.before }),
      ...(req.direction !== undefined && { direction: req.direction }),
    });
    return { messages: page.messages, hasMore: page.hasMore, recovered: page.recovered };
  }

  function queryRooms(socket: IoSocket) {
    return { rooms: [...socket.data.rooms.keys()] };
  }

  return { join, leave, send, history, queryRooms, removeFrom };
}

export type RoomHandlers = ReturnType<typeof createRoomHandlers>;
