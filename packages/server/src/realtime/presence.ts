import type { Metadata, PresenceInfo } from '@intelgraph/websocket-protocol';
import { roomKeyString, type ConnectionRecord, type PresenceAssertion, type PresenceChange, type RoomKey } from '../engine/types.js';
import type { IoServer, IoSocket, RealtimeDeps } from './context.js';
import { checkMetadata, parse, schemas } from '../validation.js';
import type { Authorizer } from './authorization.js';
import { UpdateCoalescer } from './presence-coalescing.js';

/** Connections re-asserted per store call in a maintenance round. */
const ROUND_BATCH = 500;

/** The change's room and user, to match it against the connections a round re-asserted. */
const changeSlot = (c: PresenceChange): string => `${roomKeyString(c.key)}\u0000${c.kind === 'leave' ? c.userId : c.kind === 'none' ? '' : c.user.userId}`;

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
    deps.webhooks?.presence(change);
    const k = roomKeyString(change.key);
    const room = change.key.room;
    switch (change.kind) {
      case 'join':
      case 'restore':
        // A restore is announced as an (idempotent) join: members who never saw the entry go see it.
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
    if (metadata !== undefined) (s.roomMetadata ??= new Map()).set(key.room, metadata);
    else forgetRoomMetadata(socket, key.room);
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
    forgetRoomMetadata(socket, key.room);
    const change = await engine.presence.leave(key, socket.id, Date.now());
    // No entry for a connection that had joined (no join of the room in flight): the store lost it (a Redis
    // restarted empty) before this instance re-created it. Members still show the user unless told.
    if (change.kind === 'none' && !socket.data.joining?.has(key.room)) {
      const userId = socket.data.identity.userId;
      if (!(await engine.presence.list(key, Date.now())).some((p) => p.userId === userId)) return announce({ kind: 'leave', key, userId });
    }
    announce(change);
  }

  function forgetRoomMetadata(socket: IoSocket, room: string): void {
    const own = socket.data.roomMetadata;
    if (!own?.delete(room) || own.size > 0) return;
    socket.data.roomMetadata = undefined;
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
    if (metadata !== undefined) {
      s.metadata = metadata;
      s.roomMetadata = undefined;
    }
    const changes = await engine.presence.setStatus([...s.rooms.values()], socket.id, next, metadata, Date.now());
    for (const c of changes) announce(c);
  }

  async function heartbeat(socket: IoSocket, raw: unknown) {
    const req = parse(schemas.heartbeat, raw ?? {});
    if (req.status !== undefined && req.status !== socket.data.status) await applyStatus(socket, req.status, undefined);
    // A connection in no room has no presence entry to keep alive.
    else if (socket.data.rooms.size > 0) await reassert([socket]);
    return {};
  }

  async function query(socket: IoSocket, raw: unknown): Promise<{ presence: PresenceInfo[] }> {
    const req = parse(schemas.presenceQuery, raw);
    await authorize(socket, 'presence', req.room);
    return { presence: await engine.presence.list({ tenantId: socket.data.identity.tenantId, room: req.room }, Date.now()) };
  }

  /** The connection's entries as this instance knows them; rooms with a join in flight are the join's to write. */
  function assertionsOf(socket: IoSocket): PresenceAssertion[] {
    const s = socket.data;
    const out: PresenceAssertion[] = [];
    for (const [room, key] of s.rooms) {
      if (s.joining?.has(room)) continue;
      const metadata = s.roomMetadata?.get(room) ?? s.metadata;
      out.push({
        key,
        conn: { connectionId: socket.id, userId: s.identity.userId, status: s.status, serverId: config.serverId, ...(metadata !== undefined && { metadata }) },
      });
    }
    return out;
  }

  function recordOf(socket: IoSocket): ConnectionRecord {
    const id = socket.data.identity;
    return { tenantId: id.tenantId, userId: id.userId, connectionId: socket.id, serverId: config.serverId, connectedAt: socket.handshake.issued };
  }

  /**
   * Upserts the sockets' presence entries and connection records from this instance's truth, so what
   * the store lost comes back, and announces what changed visibly (a re-created user as `restore`).
   *
   * A connection that closes, or leaves a room, while the upsert is on its way may have been removed
   * before the upsert arrived, which then re-created it. The disconnect (or leave) marks the
   * connection's state before it removes anything, so once the upsert has answered, any such
   * connection is known: its entries and record are removed again (quietly: the upsert's changes for
   * that user and room are not announced either), by commands sent after the upsert's, which Redis
   * runs after it. An upsert that failed (a timeout) and still ran later is not undone this way; what
   * it re-created is no longer refreshed and expires (entries after HEARTBEAT_TIMEOUT, records after
   * the registry's stale time).
   */
  async function reassert(sockets: readonly IoSocket[]): Promise<void> {
    const live = sockets.filter((sock) => sock.data?.identity !== undefined && !sock.data.closed);
    if (live.length === 0) return;
    const entries = live.flatMap(assertionsOf);
    const now = Date.now();
    const [changes] = await Promise.all([
      entries.length > 0 ? engine.presence.upsert(entries, now) : Promise.resolve([]),
      engine.connections.touch(live.map(recordOf), now),
    ]);
    const undone = new Set<string>();
    const undo: Promise<unknown>[] = [];
    for (const sock of live) if (sock.data.closed) undo.push(engine.connections.release(recordOf(sock), Date.now()));
    const owner = new Map(live.map((sock) => [sock.id, sock]));
    for (const { key, conn } of entries) {
      const s = (owner.get(conn.connectionId) as IoSocket).data;
      if (!s.closed && (s.rooms.has(key.room) || s.joining?.has(key.room))) continue;
      undone.add(changeSlot({ kind: 'leave', key, userId: conn.userId }));
      undo.push(engine.presence.leave(key, conn.connectionId, Date.now()));
    }
    await Promise.all(undo);
    for (const c of changes) if (!undone.has(changeSlot(c))) announce(c);
  }

  /**
   * Re-asserts this instance's presence entries and connection records (which also keeps them
   * alive), and removes those whose instance died without saying goodbye; each removal is announced
   * by exactly one instance. A round goes through the connections ROUND_BATCH at a time, one batch
   * of store calls in flight, so an instance holding tens of thousands of connections never floods
   * the store; the first failure ends the round, and a round still running when the next is due makes
   * that one skip. What a store lost (a Redis restarted empty) is back after the next round that
   * reaches it: within HEARTBEAT_INTERVAL / 2 of Redis answering again.
   */
  function startMaintenance(): () => void {
    let running = false;
    const round = async (): Promise<void> => {
      const sockets = [...io.of('/').sockets.values()];
      try {
        for (let i = 0; i < sockets.length; i += ROUND_BATCH) await reassert(sockets.slice(i, i + ROUND_BATCH));
      } catch (err) {
        logger.warn({ err }, 'presence and connection upsert failed');
      }
    };
    const roundTimer = setInterval(() => {
      if (running) return;
      running = true;
      void round().finally(() => (running = false));
    }, Math.max(100, Math.floor(config.heartbeatIntervalMs / 2)));
    const sweepTimer = setInterval(() => {
      engine.presence
        .sweep(Date.now())
        .then((changes) => {
          for (const c of changes) announce(c);
        })
        .catch((err: unknown) => logger.warn({ err }, 'presence sweep failed'));
    }, Math.max(100, Math.min(config.heartbeatIntervalMs, 10_000)));
    roundTimer.unref();
    sweepTimer.unref();
    return () => {
      clearInterval(roundTimer);
      clearInterval(sweepTimer);
      updates.stop();
    };
  }

  return { joined, left, status, heartbeat, query, startMaintenance, announce };
}

export type PresenceAnnouncer = ReturnType<typeof createPresence>;
