import type { Metadata, PresenceInfo } from '@intelgraph/websocket-protocol';
import { roomKeyString, type PresenceChange, type RoomKey } from '../engine/types.js';
import type { IoServer, IoSocket, RealtimeDeps } from './context.js';
import { checkMetadata, parse, schemas } from '../validation.js';
import type { Authorizer } from './authorization.js';
import { connectionsKey } from '../limits/index.js';
import { UpdateCoalescer } from './presence-coalescing.js';

/** Connections touched per store call in a maintenance round. */
const TOUCH_BATCH = 500;

/**
 * Presence: writes to the store and announces what changed to the room's
 * members (through the adapter, so members on every instance hear it).
 */
export function createPresence(io: IoServer, deps: RealtimeDeps, authorize: Authorizer) {
  const { engine, metrics, logger, config } = deps;
  const updates = new UpdateCoalescer(config.limits.presenceUpdateIntervalMs, (change) => {
    io.to(roomKeyString(change.key)).emit('presence:update', { room: change.key.room, presence: [change.user] });
  });

  /** Tells the room's members (on every instance) what changed; updates of one user are coalesced. */
  function announce(change: PresenceChange, except?: IoSocket): void {
    const k = roomKeyString(change.key);
    const room = change.key.room;
    switch (change.kind) {
      case 'join':
        updates.drop(change, change.user.userId);
        (except ? except.to(k) : io.to(k)).emit('presence:join', { room, user: change.user });
        return;
      case 'update':
        updates.update(change);
        return;
      case 'leave':
        updates.drop(change, change.userId);
        io.to(k).emit('presence:leave', { room, userId: change.userId });
        return;
      case 'none':
        return;
    }
  }

  async function joined(socket: IoSocket, key: RoomKey, metadata: Metadata | undefined): Promise<void> {
    const s = socket.data;
    const change = await engine.presence.join(
      key,
      {
        connectionId: socket.id,
        userId: s.identity.userId,
        status: s.status,
        serverId: config.serverId,
        ...((metadata ?? s.metadata) !== undefined && { metadata: (metadata ?? s.metadata) as Metadata }),
      },
      Date.now(),
    );
    announce(change, socket);
  }

  async function left(socket: IoSocket, key: RoomKey): Promise<void> {
    announce(await engine.presence.leave(key, socket.id, Date.now()));
  }

  function setConnectionStatusMetric(socket: IoSocket, next: typeof socket.data.status): void {
    const s = socket.data;
    if (s.status === next) return;
    metrics.activeConnections.dec({ tenant: s.tenantLabel, status: s.status });
    metrics.activeConnections.inc({ tenant: s.tenantLabel, status: next });
  }

  async function status(socket: IoSocket, raw: unknown) {
    const req = parse(schemas.status, raw);
    checkMetadata(req.metadata);
    await applyStatus(socket, req.status, req.metadata);
    return {};
  }

  async function applyStatus(socket: IoSocket, next: typeof socket.data.status, metadata: Metadata | undefined): Promise<void> {
    const s = socket.data;
    setConnectionStatusMetric(socket, next);
    s.status = next;
    if (metadata !== undefined) s.metadata = metadata;
    const changes = await engine.presence.setStatus([...s.rooms.values()], socket.id, next, metadata, Date.now());
    for (const c of changes) announce(c);
  }

  async function heartbeat(socket: IoSocket, raw: unknown) {
    const req = parse(schemas.heartbeat, raw ?? {});
    if (req.status !== undefined && req.status !== socket.data.status) await applyStatus(socket, req.status, undefined);
    // A connection in no room has no presence entry to keep alive.
    else if (socket.data.rooms.size > 0) await engine.presence.touch([socket.id], Date.now());
    return {};
  }

  async function query(socket: IoSocket, raw: unknown): Promise<{ presence: PresenceInfo[] }> {
    const req = parse(schemas.presenceQuery, raw);
    await authorize(socket, 'presence', req.room);
    return { presence: await engine.presence.list({ tenantId: socket.data.identity.tenantId, room: req.room }, Date.now()) };
  }

  /** Touches `items` TOUCH_BATCH at a time, one store call in flight; the first failure ends the round. */
  async function inBatches<T>(items: T[], what: string, touch: (batch: T[]) => Promise<void>): Promise<void> {
    try {
      for (let i = 0; i < items.length; i += TOUCH_BATCH) await touch(items.slice(i, i + TOUCH_BATCH));
    } catch (err) {
      logger.warn({ err }, `${what} touch failed`);
    }
  }

  /**
   * Keeps this instance's entries alive and removes those whose instance died
   * without saying goodbye; each removal is announced by exactly one instance.
   * A round touches the presence entries of connections in rooms and the
   * connection-counter members of all connections, TOUCH_BATCH at a time, so
   * an instance holding tens of thousands of connections never has more than
   * one batch of store calls in flight; a round still running when the next
   * is due makes that one skip.
   */
  function startMaintenance(): () => void {
    let touching = false;
    const touchRound = async (): Promise<void> => {
      const inRooms: string[] = [];
      const members: { key: string; member: string }[] = [];
      for (const sock of io.of('/').sockets.values()) {
        const state = sock.data;
        if (!state?.identity) continue;
        if (state.rooms.size > 0) inRooms.push(sock.id);
        members.push({ key: connectionsKey(state.identity.tenantId, state.identity.userId), member: sock.id });
      }
      await inBatches(inRooms, 'presence', (batch) => engine.presence.touch(batch, Date.now()));
      await inBatches(members, 'connection counter', (batch) => engine.counters.touch(batch, Date.now()));
    };
    const touchTimer = setInterval(() => {
      if (touching) return;
      touching = true;
      void touchRound().finally(() => (touching = false));
    }, Math.max(100, Math.floor(config.heartbeatIntervalMs / 2)));
    const sweepTimer = setInterval(() => {
      engine.presence
        .sweep(Date.now())
        .then((changes) => {
          for (const c of changes) announce(c);
        })
        .catch((err: unknown) => logger.warn({ err }, 'presence sweep failed'));
    }, Math.max(100, Math.min(config.heartbeatIntervalMs, 10_000)));
    touchTimer.unref();
    sweepTimer.unref();
    return () => {
      clearInterval(touchTimer);
      clearInterval(sweepTimer);
      updates.stop();
    };
  }

  return { joined, left, status, heartbeat, query, startMaintenance, announce };
}

export type PresenceAnnouncer = ReturnType<typeof createPresence>;
