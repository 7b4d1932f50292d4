import { parseRoomKey } from '../engine/types.js';
import type { EngineSession } from '../limits/index.js';
import { createAuthorizer } from './authorization.js';
import type { IoServer, IoSocket, RealtimeDeps } from './context.js';
import { createConnectionControl, type ConnectionControl } from './control.js';
import { createDispatcher } from './events.js';
import { handshakeMiddleware } from './handshake.js';
import { createPresence } from './presence.js';
import { createRoomHandlers } from './rooms.js';
import { createSession } from './session.js';

/**
 * Wires the contract's events onto a Socket.IO server. Returns a function that stops its timers, and
 * the actions on connections wherever they are (for the server API).
 */
export function attachRealtime(io: IoServer, deps: RealtimeDeps): { stop(): void; control: ConnectionControl } {
  const { engine, metrics, logger, config, limits } = deps;
  const authorize = createAuthorizer(deps);
  const presence = createPresence(io, deps, authorize);
  const rooms = createRoomHandlers(deps, presence, authorize);
  const session = createSession(deps);

  // Room messages reach local members only here: the room stream already carried them to every instance, in id order.
  engine.stream.onMessage((key, msg, except) => {
    const target = io.local.to(`${key.tenantId}#${key.room}`);
    (except ? target.except(except) : target).emit('room:message', msg);
    metrics.messagesSent.tally(metrics.tenant(key.tenantId)).inc();
  });

  const adapter = io.of('/').adapter;
  adapter.on('create-room', (room: string) => {
    if (parseRoomKey(room)) metrics.activeRooms.inc();
  });
  adapter.on('delete-room', (room: string) => {
    if (parseRoomKey(room)) metrics.activeRooms.dec();
  });

  // Engine.IO sessions are admitted by the limits (allowRequest); each holds a place until it authenticates or closes.
  io.engine.on('connection', (session: EngineSession) => limits.sessions.opened(session));
  io.use(handshakeMiddleware(deps));

  const dispatch = createDispatcher(deps, {
    'room:join': rooms.join,
    'room:leave': rooms.leave,
    'room:send': rooms.send,
    'room:history': rooms.history,
    'query:rooms': rooms.queryRooms,
    'query:presence': presence.query,
    'presence:status': presence.status,
    'presence:heartbeat': presence.heartbeat,
    'auth:refresh': session.refresh,
  });

  // The connection's logger is made only when something is logged: it would otherwise live as long as the connection.
  const connLog = (socket: IoSocket) => {
    const id = socket.data.identity;
    return logger.child({ connectionId: socket.id, userId: id.userId, tenantId: id.tenantId });
  };

  // Shared by every connection (`this` is the socket): no closure per connection.
  function onDisconnect(this: IoSocket, reason: string): void {
    const socket = this;
    const s = socket.data;
    s.closed = true;
    session.disarm(socket);
    metrics.activeConnections.dec({ tenant: s.tenantLabel, status: s.status });
    if (logger.isLevelEnabled('debug')) connLog(socket).debug({ reason }, 'disconnected');
    const work: Promise<unknown>[] = [...s.rooms.keys()].map((room) => rooms.removeFrom(socket, room));
    const { tenantId, userId } = s.identity;
    work.push(
      limits.releaseConnection(s.identity, socket.id).then(
        (released) => deps.webhooks?.disconnected(tenantId, userId, released.last),
        (err: unknown) => {
          deps.webhooks?.disconnected(tenantId, userId, false);
          throw err;
        },
      ),
    );
    Promise.allSettled(work).then((results) => {
      for (const r of results) if (r.status === 'rejected') connLog(socket).warn({ err: r.reason }, 'cleanup after disconnect failed');
    });
  }

  io.on('connection', (socket: IoSocket) => {
    const s = socket.data;
    limits.sessions.settle(socket.conn as unknown as EngineSession);
    metrics.connectionsTotal.inc({ tenant: s.tenantLabel });
    metrics.activeConnections.inc({ tenant: s.tenantLabel, status: s.status });
    if (logger.isLevelEnabled('debug')) connLog(socket).debug('connected');
    deps.webhooks?.connected(s.identity.tenantId, s.identity.userId, s.first === true);
    delete s.first;

    socket.onAny(dispatch);
    session.armExpiry(socket);
    socket.on('disconnect', onDisconnect);

    // To the connection's own room rather than `socket.emit`: a broadcast written in the turn of the CONNECT
    // answer can leave with it in one write (the transport tuning's direct path); otherwise the same packet.
    io.to(socket.id).local.emit('connection:established', {
      connectionId: socket.id,
      tenantId: s.identity.tenantId,
      userId: s.identity.userId,
      serverId: config.serverId,
      heartbeatInterval: config.heartbeatIntervalMs,
      ...(s.identity.expiresAt !== undefined && { expiresAt: s.identity.expiresAt }),
    });
    // Every listener the connection keeps is in place now (the transport tuning drops and compacts after this).
    deps.established?.(socket);
  });

  const stopMaintenance = presence.startMaintenance();
  const stopWatch = limits.watchOutput(() => io.of('/').sockets.values());
  const control = createConnectionControl({ io, clustered: config.redis !== undefined && config.clustering, removeFrom: rooms.removeFrom, metrics, logger });
  return {
    control,
    stop() {
      stopMaintenance();
      stopWatch();
    },
  };
}
