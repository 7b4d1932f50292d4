/**
 * What the server API reads of the whole deployment, from the engine's shared state (Redis for
 * many instances): presence and occupancy, the per-tenant room index, the connection registry and
 * the instance registry. No instance is asked anything, so none can hold an answer up.
 */
import type { PresenceInfo } from '@intelgraph/websocket-protocol';
import type { Engine, InstanceRecord, RoomKey, RoomOccupancy, RoomsPage, RoomsQuery } from '../engine/types.js';

export interface UserConnection {
  connectionId: string;
  /** The instance (SERVER_ID) holding the connection. */
  instance: string;
  /** Milliseconds since the epoch. */
  connectedAt: number;
  /** The rooms the connection is in. */
  rooms: string[];
}

export interface ClusterView {
  occupancy(key: RoomKey): Promise<RoomOccupancy>;
  presence(key: RoomKey): Promise<PresenceInfo[]>;
  /** A page of the tenant's rooms with members, by name; `next` when more may follow. */
  rooms(tenantId: string, query: RoomsQuery): Promise<RoomsPage>;
  /** The user's live connections on every instance, oldest first, with their rooms. */
  connections(tenantId: string, userId: string): Promise<UserConnection[]>;
  instances(): Promise<InstanceRecord[]>;
}

export function createClusterView(engine: Pick<Engine, 'presence' | 'connections' | 'instances'>): ClusterView {
  return {
    occupancy: (key) => engine.presence.occupancy(key, Date.now()),
    presence: (key) => engine.presence.list(key, Date.now()),
    rooms: (tenantId, query) => engine.presence.rooms(tenantId, query, Date.now()),
    async connections(tenantId, userId) {
      const now = Date.now();
      const records = await engine.connections.list(tenantId, userId, now);
      return Promise.all(
        records.map(async (r) => ({
          connectionId: r.connectionId,
          instance: r.serverId,
          connectedAt: r.connectedAt,
          rooms: (await engine.presence.roomsOf(r.connectionId, now)).sort(),
        })),
      );
    },
    instances: () => engine.instances.instances(Date.now()),
  };
}
