import { CLIENT_EVENTS } from '@intelgraph/websocket-protocol';
import { parseRoomKey } from '../engine/types.js';
import type { IoServer, IoSocket, RealtimeDeps } from './context.js';
import { bindEvent, bindUnknownEvents } from './events.js';
import { connectionsKey, handshakeMiddleware } from './handshake.js';
import { createPresence } from './presence.js';
import { createRoomHandlers } from './rooms.js';
import { createSession } from './session.js';
import { watchSlowConsumers } from './slow-consumers.js';

const KNOWN = new Set<string>(CLIENT_EVENTS);

/** Wires the contract's events onto a Socket.IO server. Returns a function that stops its timers. */
export function attachRealtime(io: IoServer, deps: RealtimeDeps): { stop(): void } {
  const { engine, metrics, logger, config } = deps;
  const presence = createPresence(io, deps);
  const rooms = createRoomHandlers(deps, presence);
  const session = createSession(deps);

  // Room messages reach local members only here: the broker already carried them to every instance, in id order.
  const sentCounters = new Map<string, ReturnType<typeof metrics.messagesSent.labels>>();
  engine.broker.onMessage((key, msg, except) => {
    const target = io.local.to(`${key.tenantId}#${key.room}`);
    (except ? target.except(except) : target).emit('room:message', msg);
    const label = metrics.tenant(key.tenantId);
    let c = sentCounters.get(label);
    if (!c) sentCounters.set(label, (c = metrics.messagesSent.labels(label)));
    c.inc();
  });

  const adapter = io.of('/').adapter;
  adapter.on('create-room', (room: string) => {
    if (parseRoomKey(room)) metrics.activeRooms.inc();
  });
  adapter.on('delete-room', (room: string) => {
    if (parseRoomKey(room)) metrics.activeRooms.dec();
  });

  io.use(handshakeMiddleware(deps));

  io.on('connection', (socket: IoSocket) => {
    const s = socket.data;
    const log = logger.child({ connectionId: socket.id, userId: s.identity.userId, tenantId: s.identity.tenantId });
    // The initial HTTP request is not needed any more: do not retain it for the connection's lifetime.
    (socket.conn as unknown as { request: unknown }).request = null;
    metrics.connectionsTotal.inc({ tenant: s.tenantLabel });
    metrics.activeConnections.inc({ tenant: s.tenantLabel, status: s.status });
    log.debug('connected');

    bindEvent(socket, deps, 'room:join', rooms.join);
    bindEvent(socket, deps, 'room:leave', rooms.leave);
    bindEvent(socket, deps, 'room:send', rooms.send);
    bindEvent(socket, deps, 'room:history', rooms.history);
    bindEvent(socket, deps, 'query:rooms', rooms.queryRooms);
    bindEvent(socket, deps, 'query:presence', presence.query);
    bindEvent(socket, deps, 'presence:status', presence.status);
    bindEvent(socket, deps, 'presence:heartbeat', presence.heartbeat);
    bindEvent(socket, deps, 'auth:refresh', session.refresh);
    bindUnknownEvents(socket, deps, KNOWN);
    session.armExpiry(socket);

    socket.on('disconnect', (reason) => {
      s.closed = true;
      if (s.expiryTimer) clearTimeout(s.expiryTimer);
      metrics.activeConnections.dec({ tenant: s.tenantLabel, status: s.status });
      log.debug({ reason }, 'disconnected');
      const work = [...s.rooms.keys()].map((room) => rooms.removeFrom(socket, room));
      work.push(engine.counters.release(connectionsKey(s.identity.tenantId, s.identity.userId), socket.id));
      Promise.allSettled(work).then((results) => {
        for (const r of results) if (r.status === 'rejected') log.warn({ err: r.reason }, 'cleanup after disconnect failed');
      });
    });

    socket.emit('connection:established', {
      connectionId: socket.id,
      tenantId: s.identity.tenantId,
      userId: s.identity.userId,
      serverId: config.serverId,
      heartbeatInterval: config.heartbeatIntervalMs,
      ...(s.identity.expiresAt !== undefined && { expiresAt: s.identity.expiresAt }),
    });
  });

  const stopMaintenance = presence.startMaintenance();
  const stopWatch = watchSlowConsumers(io, { limitBytes: config.writeBufferLimit, logger, metrics });
  return {
    stop() {
      stopMaintenance();
      stopWatch();
    },
  };
}
