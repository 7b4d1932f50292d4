/**
 * React bindings (`@intelgraph/websocket-client/react`): a provider for one client, and hooks for its
 * connection state, rooms and presence. React 18 or later; the hooks read the client through
 * `useSyncExternalStore`, so every component sees the same state in a render.
 */
import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useState, useSyncExternalStore, type ReactNode } from 'react';
import { compareMessageIds, type Metadata, type PresenceInfo, type RoomMessage } from '@intelgraph/websocket-protocol';
import type { WebSocketClient } from './client.js';
import type { WebSocketClientError } from './errors.js';
import type { Room } from './room.js';
import type { ConnectionState } from './state.js';
import type { SendOptions } from './types.js';

const ClientContext = createContext<WebSocketClient | null>(null);

export interface ClientProviderProps {
  /** The client the hooks below use. The provider neither connects nor disconnects it. */
  client: WebSocketClient;
  children?: ReactNode;
}

/** Makes `client` the one `useClient` and the other hooks use in this subtree. */
export function ClientProvider({ client, children }: ClientProviderProps): ReactNode {
  return createElement(ClientContext.Provider, { value: client }, children);
}

/** The client of the nearest `ClientProvider`; throws outside one. */
export function useClient(): WebSocketClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error('useClient() and the room hooks need a <ClientProvider client={...}> above them');
  return client;
}

/** The client's connection state, re-rendering on every change. */
export function useConnectionState(): ConnectionState {
  const client = useClient();
  const subscribe = useCallback((onChange: () => void) => client.on('status:change', onChange), [client]);
  const read = (): ConnectionState => client.status;
  return useSyncExternalStore(subscribe, read, read);
}

export interface UseRoomOptions {
  /** Join metadata (read at the join only). */
  metadata?: Metadata;
  /** Load this many of the newest stored messages after joining (`history({ direction: 'backward' })`). Default 0. */
  history?: number;
  /** Messages kept in `messages`, the newest ones. Default 100. */
  maxMessages?: number;
}

export interface UseRoomResult<T> {
  room: Room<T>;
  /** The room's messages, oldest first: the loaded history, then what arrived, at most `maxMessages`. */
  messages: readonly RoomMessage<T>[];
  /** True once the join succeeded, false again when the room is left. */
  joined: boolean;
  /** Why the join (or the history load) failed, if it did. */
  error: WebSocketClientError | undefined;
  /** Sends to the room (see `Room.send`). */
  send(payload: T, options?: SendOptions): Promise<string>;
}

/** Components using each room through `useRoom`: the last one to unmount leaves it. */
const users = new WeakMap<Room<unknown>, number>();

/** Merges messages by id (ids sort in delivery order) and keeps the newest `max`. */
function merge<T>(current: readonly RoomMessage<T>[], added: readonly RoomMessage<T>[], max: number): readonly RoomMessage<T>[] {
  const byId = new Map(current.map((m) => [m.id, m]));
  for (const m of added) byId.set(m.id, m);
  const all = [...byId.values()].sort((a, b) => compareMessageIds(a.id, b.id));
  return all.length > max ? all.slice(all.length - max) : all;
}

/**
 * Joins room `name` while the component is mounted (the last component using it to unmount leaves it)
 * and collects its messages. `T` is the payload type expected in the room.
 */
export function useRoom<T = unknown>(name: string, options: UseRoomOptions = {}): UseRoomResult<T> {
  const client = useClient();
  const room = useMemo(() => client.room<T>(name), [client, name]);
  const historySize = options.history ?? 0;
  const max = options.maxMessages ?? 100;
  const [messages, setMessages] = useState<readonly RoomMessage<T>[]>([]);
  const [joined, setJoined] = useState(false);
  const [error, setError] = useState<WebSocketClientError | undefined>(undefined);
  const metadata = options.metadata;

  useEffect(() => {
    let active = true;
    setMessages([]);
    setJoined(false);
    setError(undefined);
    const base = room as Room<unknown>;
    users.set(base, (users.get(base) ?? 0) + 1);
    const offMessage = room.on('message', (m) => setMessages((current) => merge(current, [m], max)));
    const offLeft = room.on('left', () => active && setJoined(false));
    room
      .join(metadata)
      .then(async () => {
        if (!active) return;
        setJoined(true);
        if (historySize > 0) {
          const page = await room.history({ direction: 'backward', limit: historySize });
          if (active) setMessages((current) => merge(current, page.messages, max));
        }
      })
      .catch((err: WebSocketClientError) => active && setError(err));
    return () => {
      active = false;
      offMessage();
      offLeft();
      const left = (users.get(base) ?? 1) - 1;
      if (left > 0) users.set(base, left);
      else {
        users.delete(base);
        room.leave().catch(() => {});
      }
    };
    // metadata is read at the join only: an object literal would otherwise re-join on every render.
  }, [room, historySize, max]);

  const send = useCallback((payload: T, sendOptions?: SendOptions) => room.send(payload, sendOptions), [room]);
  return { room, messages, joined, error, send };
}

/**
 * Who is in room `name` (joined through `useRoom` or otherwise), by user id order, re-rendering on
 * every change. Empty while the room is not joined.
 */
export function usePresence(name: string): readonly PresenceInfo[] {
  const client = useClient();
  const room = useMemo(() => client.room(name), [client, name]);
  const subscribe = useCallback((onChange: () => void) => room.on('presence', onChange), [room]);
  const read = (): ReadonlyMap<string, PresenceInfo> => room.presence;
  const presence = useSyncExternalStore(subscribe, read, read);
  return useMemo(() => [...presence.values()].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)), [presence]);
}
