import { io as ioClient, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ConnectionEstablished, ServerToClientEvents } from '@intelgraph/websocket-protocol';
import { mintToken, type TestTokenOptions } from './tokens.js';

export type TestSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface ConnectOptions {
  token?: string;
  /** Mint a token with these claims (ignored when `token` is given). */
  claims?: Partial<TestTokenOptions>;
  tenantId?: string;
  transports?: ('websocket' | 'polling')[];
  auth?: Record<string, unknown>;
  query?: Record<string, string>;
  extraHeaders?: Record<string, string>;
  /** The certificate authority to trust (PEM) for an https:// server. */
  ca?: string;
}

const open: Socket[] = [];

/** Disconnects every socket opened by `connect`/`tryConnect` (call in afterEach). */
export function closeAll(): void {
  for (const s of open.splice(0)) s.disconnect();
}

async function tokenFor(o: ConnectOptions): Promise<string | undefined> {
  if (o.token !== undefined) return o.token;
  // An explicit `auth` object means the test controls the credentials itself.
  if (o.auth !== undefined) return undefined;
  return mintToken({ sub: 'alice', tenantId: 'acme', ...o.claims });
}

function build(url: string, o: ConnectOptions, token: string | undefined): TestSocket {
  const auth: Record<string, unknown> = { ...o.auth };
  if (token !== undefined) auth.token = token;
  if (o.tenantId !== undefined) auth.tenantId = o.tenantId;
  const socket: TestSocket = ioClient(url, {
    transports: o.transports ?? ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    auth,
    ...(o.query && { query: o.query }),
    ...(o.extraHeaders && { extraHeaders: o.extraHeaders }),
    ...(o.ca !== undefined && { ca: o.ca }),
  });
  open.push(socket);
  return socket;
}

/** Connects and resolves with the socket and its `connection:established` payload. */
export async function connect(url: string, o: ConnectOptions = {}): Promise<{ socket: TestSocket; established: ConnectionEstablished }> {
  const socket = build(url, o, await tokenFor(o));
  const established = await new Promise<ConnectionEstablished>((resolve, reject) => {
    socket.once('connection:established', resolve);
    socket.once('connect_error', (err) => reject(Object.assign(new Error(`connect_error ${err.message}`), { data: (err as { data?: unknown }).data })));
  });
  return { socket, established };
}

/** Connects expecting a refusal; resolves with the connect_error's message and data. */
export async function connectError(url: string, o: ConnectOptions = {}): Promise<{ message: string; data: { code: string; message: string; retryAfterMs?: number } }> {
  const socket = build(url, o, await tokenFor(o));
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected, but a refusal was expected')));
    socket.once('connect_error', (err) => resolve({ message: err.message, data: (err as unknown as { data: { code: string; message: string } }).data }));
  });
}

/** Emits an event with an ack and resolves with the ack's argument. */
export function request<T = Record<string, unknown>>(socket: TestSocket, event: string, ...args: unknown[]): Promise<T> {
  return (socket as unknown as { timeout(ms: number): { emitWithAck(ev: string, ...a: unknown[]): Promise<T> } })
    .timeout(5000)
    .emitWithAck(event, ...args);
}

/** Resolves with the next `event` whose payload satisfies `predicate`. */
export function next<T = Record<string, unknown>>(socket: TestSocket, event: string, predicate: (data: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const s = socket as unknown as Socket;
    const timer = setTimeout(() => {
      s.off(event, handler);
      reject(new Error(`timed out waiting for ${event}`));
    }, timeoutMs);
    const handler = (data: T) => {
      if (!predicate(data)) return;
      clearTimeout(timer);
      s.off(event, handler);
      resolve(data);
    };
    s.on(event, handler);
  });
}

/** Records every payload of `event` on the socket. */
export function collect<T = Record<string, unknown>>(socket: TestSocket, event: string): T[] {
  const seen: T[] = [];
  (socket as unknown as Socket).on(event, (d: T) => seen.push(d));
  return seen;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns true (or throws after `timeoutMs`). */
export async function until(fn: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}
