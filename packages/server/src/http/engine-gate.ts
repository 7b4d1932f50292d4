import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { clientAddress, type SessionRefusal } from '../limits/index.js';
import type { RefusalLog } from '../refusal-log.js';
import { createOriginPolicy, ORIGIN_REFUSAL, refusalReadableBy, type OriginPolicy } from './origin.js';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** The Socket.IO path; Engine.IO serves exactly `${SOCKET_IO_PATH}/`. */
export const SOCKET_IO_PATH = '/socket.io';

const NOT_FOUND = JSON.stringify({ error: 'NOT_FOUND', message: `Not found: Socket.IO is served on ${SOCKET_IO_PATH}/` });
const REFUSAL = JSON.stringify(ORIGIN_REFUSAL);
/** Longest Origin header value written to the log. */
const LOGGED_ORIGIN_CHARS = 200;

/** Where a request goes: Engine.IO, a 404 (under the Socket.IO path but not Engine.IO's), or the other routes. */
function destination(url: string | undefined): 'engine' | 'not-found' | 'routes' {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  if (path === `${SOCKET_IO_PATH}/`) return 'engine';
  if (path === SOCKET_IO_PATH || path.startsWith(`${SOCKET_IO_PATH}/`)) return 'not-found';
  return 'routes';
}

interface Answer {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: string;
}

function answer(status: number, reason: string, body: string, extra: Record<string, string> = {}): Answer {
  const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store', ...extra };
  return { status, reason, headers, body };
}

const notFound = () => answer(404, 'Not Found', NOT_FOUND);
/** A new session refused by the limits: Engine.IO's error shape, with the wait when one is known. */
const tooMany = (r: SessionRefusal, origin: string | undefined) =>
  answer(r.status, r.status === 429 ? 'Too Many Requests' : 'Service Unavailable', JSON.stringify({ code: 4, message: r.message }), {
    connection: 'close',
    ...(r.retryAfterMs !== undefined && { 'retry-after': String(Math.max(1, Math.ceil(r.retryAfterMs / 1000))) }),
    ...refusalReadableBy(origin),
  });

/** Whether a request to the Engine.IO path opens a session (no `sid` yet) rather than using one. */
const opensSession = (url: string | undefined) => !/[?&]sid=/.test(url ?? '');
/** Closes the connection: a refused client has nothing more to send (a request body is not read). */
const refusal = (origin: string | undefined) => answer(403, 'Forbidden', REFUSAL, { connection: 'close', ...refusalReadableBy(origin) });

function respond(res: ServerResponse, a: Answer): void {
  res.writeHead(a.status, a.headers).end(a.body);
}

/** The answer written on a raw (upgrade) socket, which is then closed. */
function respondRawly(socket: Duplex, a: Answer): void {
  // After an upgrade request Node no longer listens for this socket's errors (a reset peer must not crash the process).
  socket.on('error', () => socket.destroy());
  if (!socket.writable) return void socket.destroy();
  const head = Object.entries({ ...a.headers, connection: 'close' }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${a.status} ${a.reason}\r\n${head}\r\n${a.body}`, () => socket.destroy());
}

export interface EngineGate {
  readonly origins: OriginPolicy;
  /** Engine.IO's CORS headers (its `cors` option): for origins the policy allows. */
  cors(req: { headers: IncomingMessage['headers'] }, cb: (err: Error | null, options: { origin: boolean; credentials: boolean; allowedHeaders: string[] }) => void): void;
  /** Puts the gate in front of the request and upgrade listeners Engine.IO attached to `http`. */
  install(http: HttpServer): void;
  /** True for requests the gate answers or hands to Engine.IO: other request listeners leave them alone. */
  owns(req: IncomingMessage): boolean;
}

/**
 * The gate in front of Engine.IO. CORS does not cover WebSocket upgrades (cross-site WebSocket
 * hijacking), and a session id must not let another origin in either, so every request to the
 * Socket.IO path, handshake, polling request or WebSocket upgrade, with or without a session id,
 * has its origin checked here, before Engine.IO sees it: a refused one is
 * answered `403 {"code":4,"message":"Origin not allowed"}` on either transport (Engine.IO itself can
 * only answer a bare 400 to an upgrade), logged (rate-limited) and counted in
 * `websocket_connections_rejected_total{code="ORIGIN_NOT_ALLOWED"}`. A request that opens a session is
 * then admitted by the limits (sessions per address, sessions pending authentication), or answered
 * 429/503 with Engine.IO's error shape and `Retry-After`. Paths under the Socket.IO path
 * that Engine.IO does not serve (`/socket.io`, `/socket.io/x`), and upgrades anywhere else, are
 * answered 404 instead of being left open.
 */
export function createEngineGate(deps: {
  config: Readonly<Config>;
  metrics: Metrics;
  refusals: RefusalLog;
  /** Admits a new session (the limits' session guard): undefined when admitted, else the refusal to answer. */
  admitSession: (req: IncomingMessage) => SessionRefusal | undefined;
}): EngineGate {
  const { config, metrics } = deps;
  const origins = createOriginPolicy(config);

  function refused(req: IncomingMessage, transport: 'polling' | 'websocket'): void {
    metrics.connectionsRejected.inc({ code: 'ORIGIN_NOT_ALLOWED' });
    deps.refusals.refused(
      clientAddress(req.headers, req.socket.remoteAddress, config.trustProxy),
      { origin: String(req.headers.origin).slice(0, LOGGED_ORIGIN_CHARS), ownOrigin: origins.ownOrigin(req), transport },
      'origin not allowed: add it to CORS_ORIGIN if it is a trusted web application',
      'warn',
    );
  }

  return {
    origins,
    cors(req, cb) {
      cb(null, { origin: origins.allows(req), credentials: true, allowedHeaders: ['authorization'] });
    },
    owns: (req) => destination(req.url) !== 'routes',
    install(http) {
      const engineRequests = http.listeners('request') as RequestListener[];
      const engineUpgrades = http.listeners('upgrade') as UpgradeListener[];
      http.removeAllListeners('request');
      http.removeAllListeners('upgrade');

      http.on('request', (req: IncomingMessage, res: ServerResponse) => {
        const to = destination(req.url);
        if (to === 'not-found') return respond(res, notFound());
        if (to === 'engine' && !origins.allows(req)) {
          refused(req, 'polling');
          return respond(res, refusal(req.headers.origin));
        }
        if (to === 'engine' && opensSession(req.url)) {
          const refusedSession = deps.admitSession(req);
          if (refusedSession) return respond(res, tooMany(refusedSession, req.headers.origin));
        }
        for (const listener of engineRequests) listener.call(http, req, res);
      });

      http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (destination(req.url) !== 'engine') return respondRawly(socket, notFound());
        if (!origins.allows(req)) {
          refused(req, 'websocket');
          return respondRawly(socket, refusal(req.headers.origin));
        }
        if (opensSession(req.url)) {
          const refusedSession = deps.admitSession(req);
          if (refusedSession) return respondRawly(socket, tooMany(refusedSession, req.headers.origin));
        }
        for (const listener of engineUpgrades) listener.call(http, req, socket, head);
      });
    },
  };
}
