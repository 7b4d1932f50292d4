import type { Metadata } from '@intelgraph/websocket-protocol';
import { claimAllows, type AuthContext, type RoomAction } from '../auth/authorize.js';
import type { ProxyConnection } from '../auth/proxy.js';
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

/** A connection as the authorization backend sees it after the handshake. */
export function proxyConnection(socket: IoSocket, serverId: string): ProxyConnection {
  return { id: socket.id, serverId, address: socket.handshake.address };
}

/**
 * The authorization backend's say on joins and sends (JOIN_PROXY_URL, PUBLISH_PROXY_URL), after the
 * token's rooms claim and the library hook: a refusal throws its coded error; otherwise the metadata
 * or payload to use (the backend's replacement, or the client's own).
 */
export function createBackendChecks(deps: Pick<RealtimeDeps, 'backend' | 'config'>) {
  const { backend, config } = deps;
  return {
    joins: backend?.has('join') ?? false,
    sends: backend?.has('publish') ?? false,
    join(socket: IoSocket, room: string, metadata: Metadata | undefined): Promise<Metadata | undefined> {
      return backend ? backend.join(socket.data.identity, proxyConnection(socket, config.serverId), room, metadata) : Promise.resolve(metadata);
    },
    publish(socket: IoSocket, room: string, payload: unknown): Promise<unknown> {
      return backend ? backend.publish(socket.data.identity, proxyConnection(socket, config.serverId), room, payload) : Promise.resolve(payload);
    },
  };
}
