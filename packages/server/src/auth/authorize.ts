import type { Identity } from './verify.js';

export type RoomAction = 'join' | 'send' | 'history' | 'presence';

/** What an authorization hook sees of the connection asking. */
export interface AuthContext {
  userId: string;
  tenantId: string;
  roles: readonly string[];
  connectionId: string;
  /** The token's `rooms` patterns, when it has them. */
  rooms?: readonly string[];
}

/** Library hook: return false (or throw) to refuse with FORBIDDEN. */
export type AuthorizeHook = (context: AuthContext, action: RoomAction, room: string) => boolean | Promise<boolean>;

/** Whether a room name matches one `rooms` claim pattern (`*` as a suffix wildcard). */
export function matchesPattern(pattern: string, room: string): boolean {
  if (pattern.endsWith('*')) return room.startsWith(pattern.slice(0, -1));
  return pattern === room;
}

export function claimAllows(identity: Pick<Identity, 'rooms'>, room: string): boolean {
  if (identity.rooms === undefined) return true;
  return identity.rooms.some((p) => matchesPattern(p, room));
}
