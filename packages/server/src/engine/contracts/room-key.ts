/** Rooms as the engine keys them: a room of one tenant. */
/** A room of one tenant. Rooms of different tenants never share a key. */
export interface RoomKey {
  readonly tenantId: string;
  readonly room: string;
}

/** The Socket.IO room (and store key) of a tenant's room: `#` appears in neither part. */
export function roomKeyString(key: RoomKey): string {
  return `${key.tenantId}#${key.room}`;
}

export function parseRoomKey(value: string): RoomKey | undefined {
  const i = value.indexOf('#');
  if (i <= 0) return undefined;
  return { tenantId: value.slice(0, i), room: value.slice(i + 1) };
}
