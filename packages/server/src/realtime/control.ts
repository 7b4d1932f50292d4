/**
 * Actions on connections wherever they are: close a user's connections, take a user out of a room,
 * close the connections holding a revoked token. The instance that is asked applies the action to
 * its own connections and passes it to the others with the adapter's `serverSideEmit` (fire and
 * forget: no instance waits for the others, so a slow or dead one delays nothing). An instance
 * away from Redis at that moment misses it; a revocation still refuses the token at every later
 * handshake and `auth:refresh`.
 */
import { ERROR_CODES, type ErrorCode, type RoomLeftReason } from '@intelgraph/websocket-protocol';
import { z } from 'zod';
import { isRevoked } from '../auth/revocation.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { IoServer, IoSocket } from './context.js';

const EVENT = 'connections:control';

const user = { tenantId: z.string().min(1).max(64), userId: z.string().min(1).max(256) };
const commandSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('disconnect'), ...user, code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]), message: z.string().max(512) }),
  z.object({ op: z.literal('remove'), ...user, room: z.string().min(1).max(128), reason: z.literal('removed') }),
  z.object({ op: z.literal('revoke'), ...user, before: z.number().int().nonnegative() }),
]);
export type ControlCommand = z.infer<typeof commandSchema>;

export interface ControlDeps {
  io: IoServer;
  /** Whether other instances share this one's adapter (Redis with clustering on). */
  clustered: boolean;
  /** Takes a connection out of one of its rooms (presence leave included). */
  removeFrom(socket: IoSocket, room: string): Promise<void>;
  metrics: Metrics;
  logger: Logger;
}

export type ConnectionControl = ReturnType<typeof createConnectionControl>;

export function createConnectionControl(deps: ControlDeps) {
  const { io, logger } = deps;

  function* connectionsOf(tenantId: string, userId: string): Generator<IoSocket> {
    for (const socket of io.of('/').sockets.values()) {
      const id = socket.data.identity;
      if (id && id.userId === userId && id.tenantId === tenantId && !socket.data.closed) yield socket;
    }
  }

  function close(socket: IoSocket, code: ErrorCode, message: string): void {
    deps.metrics.errors.inc({ type: code });
    socket.emit('system:error', { code, message, disconnect: true });
    socket.disconnect(true);
  }

  async function remove(socket: IoSocket, room: string, reason: RoomLeftReason): Promise<void> {
    // A join of that room in flight ends first, so it cannot put the connection back afterwards.
    await socket.data.joining?.get(room)?.catch(() => {});
    if (!socket.data.rooms.has(room)) return;
    await deps.removeFrom(socket, room);
    socket.emit('room:left', { room, reason });
  }

  /** Applies a command to this instance's connections; returns how many it acted on. */
  function apply(cmd: ControlCommand): number {
    let n = 0;
    for (const socket of connectionsOf(cmd.tenantId, cmd.userId)) {
      switch (cmd.op) {
        case 'disconnect':
          close(socket, cmd.code, cmd.message);
          n++;
          break;
        case 'revoke':
          if (isRevoked(socket.data.identity.issuedAt, cmd.before)) {
            close(socket, 'TOKEN_REVOKED', 'The token has been revoked: reconnect with a new token');
            n++;
          }
          break;
        case 'remove':
          if (socket.data.rooms.has(cmd.room) || socket.data.joining?.has(cmd.room)) {
            n++;
            remove(socket, cmd.room, cmd.reason).catch((err: unknown) => logger.warn({ err, connectionId: socket.id }, 'member removal failed'));
          }
          break;
      }
    }
    return n;
  }

  if (deps.clustered) {
    io.of('/').on(EVENT, (raw: unknown) => {
      const r = commandSchema.safeParse(raw);
      if (!r.success) return logger.warn({ event: EVENT }, 'ignored an invalid command from another instance');
      apply(r.data);
    });
  }

  /** Applies `cmd` here and sends it to every other instance; returns how many connections of this instance it acted on. */
  function run(cmd: ControlCommand): number {
    const n = apply(cmd);
    if (deps.clustered) io.of('/').serverSideEmit(EVENT, cmd);
    return n;
  }

  return {
    /** Closes every connection of the user with `code` (a `system:error` with `disconnect: true`, then the disconnect). */
    disconnectUser: (tenantId: string, userId: string, code: ErrorCode, message: string) => run({ op: 'disconnect', tenantId, userId, code, message }),
    /** Takes the user's connections out of `room` (`room:left { room, reason }`, presence leave). */
    removeMember: (tenantId: string, userId: string, room: string) => run({ op: 'remove', tenantId, userId, room, reason: 'removed' }),
    /** Closes the user's connections whose token was issued before `before` (TOKEN_REVOKED). */
    revoked: (tenantId: string, userId: string, before: number) => run({ op: 'revoke', tenantId, userId, before }),
  };
}
