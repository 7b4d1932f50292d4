import { claimAllows, type AuthContext, type RoomAction } from '../auth/authorize.js';
import { CodedError } from '../errors.js';
import type { IoSocket, RealtimeDeps } from './context.js';

export function authContext(socket: IoSocket): AuthContext {
  const id = socket.data.identity;
  const ctx: AuthContext = { userId: id.userId, tenantId: id.tenantId, roles: id.roles, connectionId: socket.id };
  if (id.rooms !== undefined) ctx.rooms = id.rooms;
  return ctx;
}

/** Refuses with FORBIDDEN unless the token's rooms claim and the library's authorize hook both allow the action. */
export type Authorizer = (socket: IoSocket, action: RoomAction, room: string) => Promise<void>;

export function createAuthorizer(deps: Pick<RealtimeDeps, 'authorize'>): Authorizer {
  return async (socket, action, room) => {
    if (!claimAllows(socket.data.identity, room)) throw new CodedError('FORBIDDEN', `Not allowed to ${action} in this room`);
    if (!deps.authorize) return;
    let allowed: boolean;
    try {
      allowed = await deps.authorize(authContext(socket), action, room);
    } catch {
      allowed = false;
    }
    if (!allowed) throw new CodedError('FORBIDDEN', `Not allowed to ${action} in this room`);
  };
}
