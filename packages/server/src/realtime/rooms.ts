import { DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, type RoomMessage } from '@intelgraph/websocket-protocol';
import { CodedError } from '../errors.js';
import { parseMessageId } from '../engine/ids.js';
import { RateRefusedError } from '../engine/limits.js';
import { TokenBucket } from '../engine/memory/rate-limiter.js';
import { roomKeyString, type AppendResult, type NewMessage, type PublishLimits, type PublishOptions, type RoomKey } from '../engine/types.js';
import { NO_ROOMS, type ConnState, type IoSocket, type RealtimeDeps, type SendState } from './context.js';
import type { PresenceAnnouncer } from './presence.js';
import type { Authorizer } from './authorization.js';
import { checkMetadata, exceedsJsonSize, parse, schemas } from './validation.js';

/** Messages returned in one join ack at most; the rest is paged with `room:history`. */
export const JOIN_RECOVERY_PAGE = 200;

/** Room handlers: join, leave, send, history, query:rooms. */
export function createRoomHandlers(deps: RealtimeDeps, presence: PresenceAnnouncer, authorize: Authorizer) {
  const { config, engine, metrics } = deps;

  const keyOf = (socket: IoSocket, room: string): RoomKey => ({ tenantId: socket.data.identity.tenantId, room });

  async function join(socket: IoSocket, raw: unknown) {
    const req = parse(schemas.join, raw);
    checkMetadata(req.metadata);
    const state = socket.data;
    const already = state.rooms.has(req.room);
    if (!already) {
      const max = config.limits.maxRoomsPerConnection;
      if (max > 0 && state.rooms.size >= max) {
        metrics.rateLimited.inc({ scope: 'rooms_per_connection' });
        throw new CodedError('ROOM_LIMIT', `At most ${max} rooms per connection`);
      }
    }
    await authorize(socket, 'join', req.room);
    const key = keyOf(socket, req.room);
    const k = roomKeyString(key);
    // Without `since`: the room's newest id before this connection can receive anything, so the client has
    // a position to recover from even if no message reaches it before it reconnects.
    const lastId = req.since === undefined ? await engine.history.head(key) : undefined;
    if (!already) {
      const own = state.rooms === NO_ROOMS ? new Map<string, RoomKey>() : (state.rooms as Map<string, RoomKey>);
      own.set(req.room, key);
      state.rooms = own;
      try {
        // Subscribed before joining: no message published after the ack can miss this instance.
        await engine.broker.subscribe(key);
      } catch (err) {
        (state.rooms as Map<string, RoomKey>).delete(req.room);
        throw err;
      }
      if (state.closed) {
        await engine.broker.unsubscribe(key).catch(() => {});
        throw new CodedError('INVALID_PAYLOAD', 'The connection closed');
      }
      socket.join(k);
      metrics.roomSubscriptions.inc();
    }
    await presence.joined(socket, key, req.metadata);
    const ack: { room: string; messages?: RoomMessage[]; recovered?: boolean; hasMore?: boolean; lastId?: string } = { room: req.room };
    if (lastId !== undefined) ack.lastId = lastId;
    if (req.since !== undefined) {
      const page = await engine.history.read(key, { since: req.since, limit: JOIN_RECOVERY_PAGE });
      ack.messages = page.messages;
      ack.recovered = page.recovered;
      ack.hasMore = page.hasMore;
      metrics.historyRecoveries.inc({ result: page.recovered ? 'hit' : 'miss' });
    }
    setImmediate(() => socket.emit('room:joined', req.metadata !== undefined ? { room: req.room, metadata: req.metadata } : { room: req.room }));
    return ack;
  }

  /** Removes the connection from a room it is in (leave or disconnect). */
  async function removeFrom(socket: IoSocket, room: string): Promise<void> {
    const key = socket.data.rooms.get(room);
    if (!key) return;
    (socket.data.rooms as Map<string, RoomKey>).delete(room);
    socket.leave(roomKeyString(key));
    metrics.roomSubscriptions.dec();
    await Promise.allSettled([engine.broker.unsubscribe(key), presence.left(socket, key)]);
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
    const sending = (state.sending ??= newSendState(state));
    const conn = deps.localLimiter.consumeHeld(sending.bucket, config.limits.connection.rate, config.limits.connection.burst);
    if (!conn.allowed) refuse('connection', conn.retryAfterMs);
    const message: NewMessage = { from: state.identity.userId, payload: req.payload, timestamp: Date.now() };
    if (req.clientMessageId !== undefined) message.clientMessageId = req.clientMessageId;
    // The user's and the tenant's buckets are taken in the same step as the append (one Redis script on a
    // single Redis): a refused message takes a token from neither and is neither stored nor delivered.
    const opts: PublishOptions = { persistent, exceptConnectionId: socket.id };
    if (sending.limits) opts.limits = sending.limits;
    let result: AppendResult;
    try {
      result = await engine.broker.publish(key, message, opts);
    } catch (err) {
      if (err instanceof RateRefusedError) refuse(err.decision.refusedBy === 1 ? 'tenant' : 'user', err.decision.retryAfterMs);
      throw err;
    }
    if (persistent && !result.duplicate) metrics.messagesPersisted.tally(state.tenantLabel).inc();
    return result.duplicate ? { messageId: result.message.id, duplicate: true } : { messageId: result.message.id };
  }

  /** A connection's sending state, made on its first send (user and tenant are fixed for a connection's lifetime). */
  function newSendState(state: ConnState): SendState {
    const { user, tenant } = config.limits;
    const limits: PublishLimits | undefined =
      user.rate > 0 || tenant.rate > 0
        ? {
            group: state.identity.tenantId,
            buckets: [
              { key: `u:${state.identity.userId}`, rate: user.rate, burst: user.burst },
              { key: 't', rate: tenant.rate, burst: tenant.burst },
            ],
          }
        : undefined;
    return { bucket: new TokenBucket(), limits };
  }

  function refuse(scope: string, retryAfterMs: number): never {
    metrics.rateLimited.inc({ scope });
    throw new CodedError('RATE_LIMITED', `Rate limit exceeded (${scope})`, retryAfterMs);
  }

  async function history(socket: IoSocket, raw: unknown) {
    const req = parse(schemas.history, raw);
    if (req.since !== undefined && !parseMessageId(req.since)) throw new CodedError('INVALID_PAYLOAD', 'since must be a message id');
    await authorize(socket, 'history', req.room);
    const limit = Math.min(req.limit ?? DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT);
    const page = await engine.history.read(keyOf(socket, req.room), { ...(req.since !== undefined && { since: req.since }), limit });
    return { messages: page.messages, hasMore: page.hasMore, recovered: page.recovered };
  }

  function queryRooms(socket: IoSocket) {
    return { rooms: [...socket.data.rooms.keys()] };
  }

  return { join, leave, send, history, queryRooms, removeFrom };
}

export type RoomHandlers = ReturnType<typeof createRoomHandlers>;
